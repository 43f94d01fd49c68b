package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:6001" || cfg.ActivityTimeout != 120*time.Second {
		t.Fatalf("listen %q activity %v", cfg.Listen, cfg.ActivityTimeout)
	}
	if len(cfg.Apps) != 1 {
		t.Fatalf("apps: %d", len(cfg.Apps))
	}
	a := cfg.Apps[0]
	if a.ID != "app-id" || a.Key != "app-key" || a.Secret != "app-secret" || !a.ClientEvents || !a.Enabled {
		t.Fatalf("default app: %+v", a)
	}
	if a.Limits.MaxPresenceMembers != 100 || a.Limits.MaxEventDataSize != 10240 || a.Limits.MaxChannelsPerEvent != 100 ||
		a.Limits.MaxBatchEvents != 10 || a.Limits.MaxClientEventsPerSecond != 10 || a.Limits.MaxChannelNameLength != 164 {
		t.Fatalf("default limits: %+v", a.Limits)
	}
	if a.UserAuthenticationTimeout != 30*time.Second {
		t.Fatalf("user_authentication_timeout %v", a.UserAuthenticationTimeout)
	}
	if cfg.Console.Enabled {
		t.Fatal("the console must be off by default")
	}
}

func TestConsoleTokenFromEnv(t *testing.T) {
	cfg, err := Load("", []string{"HERALD_CONSOLE__ENABLED=true", "HERALD_CONSOLE__TOKEN=0123456789abcdef"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Console.Enabled || cfg.Console.Token != "0123456789abcdef" {
		t.Fatalf("console %+v", cfg.Console)
	}
}

func TestLoadFileAppsInheritDefaults(t *testing.T) {
	p := writeFile(t, `
listen: "127.0.0.1:0"
apps:
  - id: a
    key: ka
    secret: sa
    client_events: false
    limits:
      max_presence_members: 2
  - id: b
    key: kb
    secret: sb
    enabled: false
    webhooks:
      - url: http://127.0.0.1:9/hook
        event_types: [channel_occupied, member_added]
`)
	cfg, err := Load(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:0" || len(cfg.Apps) != 2 {
		t.Fatalf("%+v", cfg)
	}
	a, b := cfg.Apps[0], cfg.Apps[1]
	if a.ClientEvents || !a.Enabled || a.Limits.MaxPresenceMembers != 2 || a.Limits.MaxEventDataSize != 10240 {
		t.Fatalf("app a: %+v", a)
	}
	if b.Enabled || !b.ClientEvents || b.Limits.MaxPresenceMembers != 100 {
		t.Fatalf("app b: %+v", b)
	}
	if len(b.Webhooks) != 1 || b.Webhooks[0].URL != "http://127.0.0.1:9/hook" || len(b.Webhooks[0].EventTypes) != 2 {
		t.Fatalf("webhooks: %+v", b.Webhooks)
	}
	if len(a.Webhooks) != 0 {
		t.Fatalf("app a inherited webhooks: %+v", a.Webhooks)
	}
}

func TestLoadLayersInOrder(t *testing.T) {
	p := writeFile(t, "listen: 127.0.0.1:7000\nlog: {level: warn}\n")
	env := []string{
		"HERALD_LISTEN=127.0.0.1:7001",
		"HERALD_LOG__FORMAT=json",
		"HERALD_APPS__0__SECRET=from-env",
		"HERALD_APPS__0__LIMITS__MAX_CONNECTIONS=5",
		"PATH=/usr/bin",
	}
	cfg, err := Load(p, env, map[string]any{"listen": "127.0.0.1:7002"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7002" {
		t.Fatalf("flag override lost: %q", cfg.Listen)
	}
	if cfg.Log.Level != "warn" || cfg.Log.Format != "json" {
		t.Fatalf("log %+v", cfg.Log)
	}
	if cfg.Apps[0].Secret != "from-env" || cfg.Apps[0].Key != "app-key" || cfg.Apps[0].Limits.MaxConnections != 5 {
		t.Fatalf("app from env: %+v", cfg.Apps[0])
	}

	cfg, err = Load(p, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7001" {
		t.Fatalf("env should beat the file: %q", cfg.Listen)
	}
}

// loadCase is a configuration Load must refuse, with every string of want in its error.
type loadCase struct {
	name, yaml string
	env        []string
	want       []string
}

func checkRefusals(t *testing.T, cases []loadCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := ""
			if c.yaml != "" {
				path = writeFile(t, c.yaml)
			}
			_, err := Load(path, c.env, nil)
			if err == nil {
				t.Fatalf("loaded; want an error with %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	checkRefusals(t, []loadCase{
		{"duplicate ids", "apps: [{id: a, key: k1, secret: s}, {id: a, key: k2, secret: s}]", nil, []string{"duplicate id"}},
		{"duplicate keys", "apps: [{id: a, key: k, secret: s}, {id: b, key: k, secret: s}]", nil, []string{"duplicate key"}},
		{"missing secret", "apps: [{id: a, key: k}]", nil, []string{"required", "secret missing (set HERALD_APPS__0__SECRET)"}},
		{"empty webhook url", "apps: [{id: a, key: k, secret: s, webhooks: [{event_types: [member_added]}]}]", nil, []string{"url is empty"}},
		{"bad env app index", "", []string{"HERALD_APPS__x__KEY=k"}, []string{`"x" is not an index of apps`}},
		{"short activity timeout", "activity_timeout: 10ms", nil, []string{"activity_timeout"}},
		{"zero size limit", "apps: [{id: a, key: k, secret: s, limits: {max_event_data_size: 0}}]", nil, []string{"max_event_data_size 0"}},
		{"negative rate limit", "apps: [{id: a, key: k, secret: s, limits: {max_connections_per_second: -1}}]", nil, []string{"max_connections_per_second -1"}},
		{"zero webhook delay", "webhooks: {delay: 0s}", nil, []string{"webhooks.delay"}},
		{"console without a token", "console: {enabled: true}", nil, []string{"console.token"}},
		{"console with a short token", "console: {enabled: true}", []string{"HERALD_CONSOLE__TOKEN=short"}, []string{"console.token"}},
		{"console without metrics_listen", `{console: {enabled: true, token: 0123456789abcdef}, metrics_listen: ""}`, nil, []string{"metrics_listen"}},
	})
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, nil); err == nil {
		t.Fatal("a missing file must be an error")
	}
}

// TestEnvCommasOnlySplitLists: a comma splits the value of a list-valued key only; any other
// value, a secret say, is taken whole.
func TestEnvCommasOnlySplitLists(t *testing.T) {
	cfg, err := Load("", []string{
		"HERALD_APPS__0__SECRET=s3,cr3t",
		"HERALD_APPS__0__ALLOWED_ORIGINS=https://a.example,https://b.example",
		"HERALD_CONNECTION_RATE_EXEMPT=10.0.0.0/8,192.168.0.0/16",
		"HERALD_LOG__LEVEL=debug",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Apps[0]
	if a.Secret != "s3,cr3t" {
		t.Fatalf("secret %q, want it whole", a.Secret)
	}
	if len(a.AllowedOrigins) != 2 || a.AllowedOrigins[1] != "https://b.example" {
		t.Fatalf("allowed_origins %q", a.AllowedOrigins)
	}
	if len(cfg.ConnectionRateExempt) != 2 || cfg.ConnectionRateExempt[0] != "10.0.0.0/8" {
		t.Fatalf("connection_rate_exempt %q", cfg.ConnectionRateExempt)
	}
	for _, key := range []string{"connection_rate_exempt", "cluster.automanaged.seeds", "cluster.etcd.endpoints",
		"apps[0].allowed_origins", "apps[3].webhooks[1].event_types"} {
		if n := configSchema.lookup(key); n == nil || n.kind != values {
			t.Errorf("%s is not known as a list of values", key)
		}
	}
	if n := configSchema.lookup("apps[0].secret"); n == nil || n.kind != value {
		t.Errorf("apps[0].secret is not a single value")
	}
}

// TestDefaultIsTheEmbeddedYAML: Default and DefaultApp are default.yaml, as tests use them.
func TestDefaultIsTheEmbeddedYAML(t *testing.T) {
	loaded, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := Default(); d.Listen != loaded.Listen || d.Apps[0].Limits != loaded.Apps[0].Limits || d.Webhooks != loaded.Webhooks {
		t.Fatalf("Default() differs from the embedded default.yaml: %+v", d)
	}
	a := DefaultApp("x", "kx", "sx")
	if a.ID != "x" || a.Key != "kx" || a.Secret != "sx" || a.Limits != loaded.Apps[0].Limits || a.CacheTTL != loaded.Apps[0].CacheTTL {
		t.Fatalf("DefaultApp %+v", a)
	}
}

// TestShippedConfigsLoad: every config file in the repository loads under the strict rules
// (credentials given as the container's environment would).
func TestShippedConfigsLoad(t *testing.T) {
	var files []string
	for _, pattern := range []string{"cluster/*.yaml", "deploy/container/*.yaml", "../bench/configs/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	env := []string{"HERALD_APPS__0__ID=id", "HERALD_APPS__0__KEY=key", "HERALD_APPS__0__SECRET=secret-of-sixteen-bytes-or-more",
		"HERALD_LISTEN=127.0.0.1:0", "HERALD_METRICS_LISTEN=127.0.0.1:0"}
	for _, f := range files {
		if _, err := Load(f, env, nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
