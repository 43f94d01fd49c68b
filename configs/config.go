// Package configs loads herald's configuration with koanf: the embedded default.yaml, then an
// optional YAML file, then HERALD_* environment variables, then command-line overrides. It owns
// the typed Config, the one model of an app (App), and their validation. default.yaml is the only
// source of default values: no Go code restates one, and tests start from Default().
// It imports only protocol (for the Pusher limits an app has).
package configs

import (
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"

	"github.com/herald-io/herald/protocol"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the embedded default configuration, every key documented.
func DefaultYAML() []byte { return defaultYAML }

// Config is herald's whole configuration.
type Config struct {
	Listen               string          `koanf:"listen"`
	ActivityTimeout      time.Duration   `koanf:"activity_timeout"`
	PongTimeout          time.Duration   `koanf:"pong_timeout"`
	WriteQueueBytes      int             `koanf:"write_queue_bytes"`
	ShutdownGrace        time.Duration   `koanf:"shutdown_grace"`
	RequestTimeout       time.Duration   `koanf:"request_timeout"`
	ReadTimeout          time.Duration   `koanf:"read_timeout"`
	Backpressure         Backpressure    `koanf:"backpressure"`
	IdleTimeout          time.Duration   `koanf:"idle_timeout"`
	Log                  Log             `koanf:"log"`
	Cluster              Cluster         `koanf:"cluster"`
	Webhooks             WebhookDelivery `koanf:"webhooks"`
	MetricsListen        string          `koanf:"metrics_listen"`
	Pprof                bool            `koanf:"pprof"`
	TLS                  TLS             `koanf:"tls"`
	ConnectionRatePerIP  int             `koanf:"connection_rate_per_ip"`
	ConnectionRateExempt []string        `koanf:"connection_rate_exempt"`
	Telemetry            Telemetry       `koanf:"telemetry"`
	AppsDatabase         AppsDatabase    `koanf:"apps_database"`
	Console              Console         `koanf:"console"`
	Apps                 []App           `koanf:"apps"`
}

// AppsDatabase is where apps are read from beside Apps: a PostgreSQL database (configs/appsource).
type AppsDatabase struct {
	DSN           string        `koanf:"dsn"`
	Refresh       string        `koanf:"refresh"` // RefreshNotify or RefreshPoll
	PollInterval  time.Duration `koanf:"poll_interval"`
	RetryInterval time.Duration `koanf:"retry_interval"`
	Timeout       time.Duration `koanf:"timeout"`
}

// The refresh modes of AppsDatabase.
const (
	RefreshNotify = "notify"
	RefreshPoll   = "poll"
)

// Enabled reports whether apps are read from a database.
func (d AppsDatabase) Enabled() bool { return d.DSN != "" }

// Backpressure holds triggers while the sockets' queues are behind: see default.yaml.
type Backpressure struct {
	MaxDelay time.Duration `koanf:"max_delay"`
	MaxWait  time.Duration `koanf:"max_wait"`
}

// Console is the debug console served on metrics_listen.
type Console struct {
	Enabled bool   `koanf:"enabled"`
	Token   string `koanf:"token"`
}

// ConsoleTokenMinLength is the shortest console.token accepted: the token is all that stands
// between the network and every app's traffic.
const ConsoleTokenMinLength = 16

// TLS makes the listener serve wss:// and https://; both files empty serves plain ws:// and http://.
type TLS struct {
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// ExemptPrefixes is connection_rate_exempt parsed; a bare address is a prefix of its own.
func (c *Config) ExemptPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.ConnectionRateExempt))
	for _, s := range c.ConnectionRateExempt {
		s = strings.TrimSpace(s)
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("connection_rate_exempt: %q is neither an address nor a prefix such as 10.0.0.0/8", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Telemetry configures tracing.
type Telemetry struct {
	ServiceName string `koanf:"service_name"`
	NodeName    string `koanf:"node_name"`
	Traces      struct {
		Exporter    string  `koanf:"exporter"`
		Endpoint    string  `koanf:"endpoint"`
		SampleRatio float64 `koanf:"sample_ratio"`
	} `koanf:"traces"`
}

// WebhookDelivery configures how webhooks are sent, for every app.
type WebhookDelivery struct {
	BatchWindow    time.Duration `koanf:"batch_window"`
	BatchMaxEvents int           `koanf:"batch_max_events"`
	Timeout        time.Duration `koanf:"timeout"`
	InitialBackoff time.Duration `koanf:"initial_backoff"`
	MaxBackoff     time.Duration `koanf:"max_backoff"`
	RetryFor       time.Duration `koanf:"retry_for"`
	QueueLimit     int           `koanf:"queue_limit"`
	Delay          time.Duration `koanf:"delay"`
}

// Cluster makes the node a member of a proto.actor cluster.
type Cluster struct {
	Enabled  bool   `koanf:"enabled"`
	Name     string `koanf:"name"`
	Address  string `koanf:"address"`
	Provider string `koanf:"provider"`
	// RebuildTimeout bounds how long a re-activated grain waits for the members' state.
	RebuildTimeout time.Duration `koanf:"rebuild_timeout"`
	// GossipInterval is how often a member shares its connection counts.
	GossipInterval time.Duration `koanf:"gossip_interval"`
	Automanaged    struct {
		Port  int      `koanf:"port"`
		Seeds []string `koanf:"seeds"`
	} `koanf:"automanaged"`
	Etcd struct {
		Endpoints []string `koanf:"endpoints"`
		Prefix    string   `koanf:"prefix"`
	} `koanf:"etcd"`
}

// Log configures slog.
type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// App is one Pusher app: its credentials, its settings and its limits. It is the one model of an
// app in herald: the actors and the transport read it as loaded, and keep their runtime state
// (connection counts, rate limiter state, metrics) beside it, never in it.
type App struct {
	ID                        string          `koanf:"id"`
	Key                       string          `koanf:"key"`
	Secret                    string          `koanf:"secret"`
	Enabled                   bool            `koanf:"enabled"`
	ClientEvents              bool            `koanf:"client_events"`
	UserAuthentication        bool            `koanf:"user_authentication"`
	UserAuthenticationTimeout time.Duration   `koanf:"user_authentication_timeout"`
	CacheTTL                  time.Duration   `koanf:"cache_ttl"`
	SubscriptionCount         bool            `koanf:"subscription_count"`
	AllowedOrigins            []string        `koanf:"allowed_origins"`
	Webhooks                  []Webhook       `koanf:"webhooks"`
	Limits                    protocol.Limits `koanf:"limits"`
}

// Webhook is one webhook target of an app.
type Webhook struct {
	URL        string   `koanf:"url"`
	EventTypes []string `koanf:"event_types"`
}

// Wants reports whether the target gets events of type name (no event_types: every type).
func (w Webhook) Wants(name string) bool {
	return len(w.EventTypes) == 0 || slices.Contains(w.EventTypes, name)
}

// WantsWebhook reports whether some target of the app gets events of type name, so that a
// producer can skip building an event nobody gets.
func (a *App) WantsWebhook(name string) bool {
	for _, w := range a.Webhooks {
		if w.Wants(name) {
			return true
		}
	}
	return false
}

// Default is the embedded default configuration, the starting point of every test: a change
// to default.yaml is a change everywhere.
func Default() *Config {
	cfg, err := Load("", nil, nil)
	if err != nil {
		panic("configs: the embedded default.yaml does not load: " + err.Error())
	}
	return cfg
}

// DefaultApp is the embedded default app with the given credentials: every option and limit
// as default.yaml has it. Tests build their apps from it.
func DefaultApp(id, key, secret string) App {
	a := Default().Apps[0]
	a.ID, a.Key, a.Secret = id, key, secret
	return a
}

// EnvPrefix starts every environment variable herald reads.
const EnvPrefix = "HERALD_"

// Load reads the layers in order: defaults, the YAML file at path (if not empty), the
// environment (environ, as os.Environ returns it), then overrides (koanf keys such as "listen").
// Each app in a file or in the environment starts from the default app's options and limits,
// so a file only has to name what differs.
func Load(path string, environ []string, overrides map[string]any) (*Config, error) {
	defaults := koanf.New(".")
	if err := defaults.Load(rawbytes.Provider(defaultYAML), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	k := koanf.New(".")
	if err := k.Merge(defaults); err != nil {
		return nil, err
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		f := koanf.New(".")
		if err := f.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		if err := k.Merge(f); err != nil {
			return nil, err
		}
	}
	envLayer, err := loadEnv(environ)
	if err != nil {
		return nil, err
	}
	if err := k.Merge(envLayer.top); err != nil {
		return nil, err
	}
	if len(overrides) > 0 {
		if err := k.Load(confmap.Provider(overrides, "."), nil); err != nil {
			return nil, fmt.Errorf("overrides: %w", err)
		}
	}

	var defaultApps []App
	if err := defaults.Unmarshal("apps", &defaultApps); err != nil || len(defaultApps) == 0 {
		return nil, fmt.Errorf("embedded defaults: apps: %v", err)
	}
	defaultApp := defaultApps[0]

	cfg := &Config{}
	if err := k.Unmarshal("", cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// Re-read apps one by one over the default app so missing keys keep their defaults.
	var rawApps []map[string]any
	if err := k.Unmarshal("apps", &rawApps); err != nil {
		return nil, fmt.Errorf("config: apps: %w", err)
	}
	for i := range envLayer.apps {
		for len(rawApps) <= i {
			rawApps = append(rawApps, map[string]any{})
		}
	}
	cfg.Apps = cfg.Apps[:0]
	for i, raw := range rawApps {
		ak := koanf.New(".")
		if err := ak.Load(confmap.Provider(raw, ""), nil); err != nil {
			return nil, err
		}
		if overlay, ok := envLayer.apps[i]; ok {
			if err := ak.Merge(overlay); err != nil {
				return nil, err
			}
		}
		app := defaultApp
		// Credentials are never inherited: an app without a secret must fail, not get the
		// well-known default one.
		app.ID, app.Key, app.Secret, app.Webhooks = "", "", "", nil
		if !ak.Exists("enabled") {
			app.Enabled = true
		}
		if err := ak.Unmarshal("", &app); err != nil {
			return nil, fmt.Errorf("config: apps[%d]: %w", i, err)
		}
		cfg.Apps = append(cfg.Apps, app)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

type envLayers struct {
	top  *koanf.Koanf
	apps map[int]*koanf.Koanf
}

// loadEnv maps HERALD_A__B=v to key a.b; HERALD_APPS__N__KEY=v sets key of the Nth app (koanf's
// env provider cannot index into a list, hence this small mapping).
func loadEnv(environ []string) (envLayers, error) {
	layers := envLayers{top: koanf.New("."), apps: map[int]*koanf.Koanf{}}
	top := map[string]any{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
		parts := strings.Split(key, "__")
		if parts[0] == "apps" {
			if len(parts) < 3 {
				return layers, fmt.Errorf("env %s: use %sAPPS__<index>__<key>", name, EnvPrefix)
			}
			i, err := strconv.Atoi(parts[1])
			if err != nil || i < 0 || i > 1000 {
				return layers, fmt.Errorf("env %s: app index %q", name, parts[1])
			}
			if layers.apps[i] == nil {
				layers.apps[i] = koanf.New(".")
			}
			appKey := strings.Join(parts[2:], ".")
			if err := layers.apps[i].Set(appKey, envValue(appListKeys, appKey, value)); err != nil {
				return layers, err
			}
			continue
		}
		topKey := strings.Join(parts, ".")
		top[topKey] = envValue(configListKeys, topKey, value)
	}
	if err := layers.top.Load(confmap.Provider(top, "."), nil); err != nil {
		return layers, err
	}
	return layers, nil
}

// envValue is an environment value as koanf should see it: a comma-separated list for a key
// whose field is a list (connection_rate_exempt, seeds, allowed_origins...), the string as it
// is for every other key, so that HERALD_APPS__0__SECRET=s3,cr3t stays one secret.
func envValue(listKeys map[string]bool, key, v string) any {
	if listKeys[key] {
		return strings.Split(v, ",")
	}
	return v
}

// The keys whose fields are lists of strings, found from the koanf tags of Config and App.
var (
	configListKeys = listKeys(reflect.TypeFor[Config](), "")
	appListKeys    = listKeys(reflect.TypeFor[App](), "")
)

func listKeys(t reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		if tag == "" {
			continue
		}
		switch {
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			out[prefix+tag] = true
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]():
			for k := range listKeys(f.Type, prefix+tag+".") {
				out[k] = true
			}
		}
	}
	return out
}

// Validate reports every problem that would make the config unusable, joined.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen is empty"))
	}
	if c.ActivityTimeout < time.Second {
		errs = append(errs, fmt.Errorf("activity_timeout %v: must be at least 1s", c.ActivityTimeout))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"pong_timeout", c.PongTimeout}, {"shutdown_grace", c.ShutdownGrace}, {"request_timeout", c.RequestTimeout},
		{"read_timeout", c.ReadTimeout}, {"idle_timeout", c.IdleTimeout}, {"backpressure.max_wait", c.Backpressure.MaxWait},
		{"cluster.rebuild_timeout", c.Cluster.RebuildTimeout}, {"cluster.gossip_interval", c.Cluster.GossipInterval},
		{"webhooks.batch_window", c.Webhooks.BatchWindow}, {"webhooks.timeout", c.Webhooks.Timeout},
		{"webhooks.initial_backoff", c.Webhooks.InitialBackoff}, {"webhooks.max_backoff", c.Webhooks.MaxBackoff},
		{"webhooks.retry_for", c.Webhooks.RetryFor}, {"webhooks.delay", c.Webhooks.Delay},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be more than 0", d.key, d.v))
		}
	}
	if c.WriteQueueBytes <= 0 {
		errs = append(errs, fmt.Errorf("write_queue_bytes %d: must be more than 0", c.WriteQueueBytes))
	}
	if c.Webhooks.BatchMaxEvents <= 0 || c.Webhooks.QueueLimit <= 0 {
		errs = append(errs, fmt.Errorf("webhooks.batch_max_events %d and webhooks.queue_limit %d: must be more than 0",
			c.Webhooks.BatchMaxEvents, c.Webhooks.QueueLimit))
	}
	if c.Cluster.Enabled {
		if c.Cluster.Address == "" || c.Cluster.Name == "" {
			errs = append(errs, errors.New("cluster: name and address are required"))
		}
		switch c.Cluster.Provider {
		case "automanaged":
			if c.Cluster.Automanaged.Port == 0 || len(c.Cluster.Automanaged.Seeds) == 0 {
				errs = append(errs, errors.New("cluster.automanaged: port and seeds are required"))
			}
		case "etcd":
			if len(c.Cluster.Etcd.Endpoints) == 0 {
				errs = append(errs, errors.New("cluster.etcd: endpoints are required"))
			}
		case "k8s":
		default:
			errs = append(errs, fmt.Errorf("cluster.provider %q: use automanaged, etcd or k8s", c.Cluster.Provider))
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: set both cert_file and key_file, or neither"))
	}
	if c.ConnectionRatePerIP < 0 {
		errs = append(errs, errors.New("connection_rate_per_ip must be 0 (off) or more"))
	}
	if _, err := c.ExemptPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if c.Console.Enabled {
		if len(c.Console.Token) < ConsoleTokenMinLength {
			errs = append(errs, fmt.Errorf("console.token: at least %d characters are required when console.enabled is true (set HERALD_CONSOLE__TOKEN)", ConsoleTokenMinLength))
		}
		if c.MetricsListen == "" {
			errs = append(errs, errors.New("console: the console is served on metrics_listen, which is empty"))
		}
	}
	if c.AppsDatabase.Enabled() {
		errs = append(errs, c.AppsDatabase.validate()...)
	} else if len(c.Apps) == 0 {
		errs = append(errs, errors.New("no apps configured"))
	}
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		if a.ID == "" || a.Key == "" || a.Secret == "" {
			errs = append(errs, fmt.Errorf("apps[%d]: id, key and secret are required", i))
		}
		if ids[a.ID] {
			errs = append(errs, fmt.Errorf("apps[%d]: duplicate id %q", i, a.ID))
		}
		if keys[a.Key] {
			errs = append(errs, fmt.Errorf("apps[%d]: duplicate key %q", i, a.Key))
		}
		ids[a.ID], keys[a.Key] = true, true
		errs = append(errs, validateLimits(fmt.Sprintf("apps[%d].limits", i), a.Limits)...)
		if a.CacheTTL <= 0 {
			errs = append(errs, fmt.Errorf("apps[%d].cache_ttl %v: must be more than 0", i, a.CacheTTL))
		}
		if a.UserAuthenticationTimeout <= 0 {
			errs = append(errs, fmt.Errorf("apps[%d].user_authentication_timeout %v: must be more than 0", i, a.UserAuthenticationTimeout))
		}
		for _, o := range a.AllowedOrigins {
			if !validOrigin(o) {
				errs = append(errs, fmt.Errorf("apps[%d].allowed_origins: %q is not \"*\" or scheme://host[:port] (host may start with *.)", i, o))
			}
		}
		for j, w := range a.Webhooks {
			if w.URL == "" {
				errs = append(errs, fmt.Errorf("apps[%d].webhooks[%d]: url is empty", i, j))
			} else if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("apps[%d].webhooks[%d]: url %q must be http(s)://host/...", i, j, w.URL))
			}
			for _, t := range w.EventTypes {
				if !slices.Contains(protocol.WebhookEventTypes, t) {
					errs = append(errs, fmt.Errorf("apps[%d].webhooks[%d]: unknown event type %q (one of %v)", i, j, t, protocol.WebhookEventTypes))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (d AppsDatabase) validate() []error {
	var errs []error
	if d.Refresh != RefreshNotify && d.Refresh != RefreshPoll {
		errs = append(errs, fmt.Errorf("apps_database.refresh %q: use %s or %s", d.Refresh, RefreshNotify, RefreshPoll))
	}
	for _, v := range []struct {
		key string
		d   time.Duration
	}{{"poll_interval", d.PollInterval}, {"retry_interval", d.RetryInterval}, {"timeout", d.Timeout}} {
		if v.d <= 0 {
			errs = append(errs, fmt.Errorf("apps_database.%s %v: must be more than 0", v.key, v.d))
		}
	}
	return errs
}

// validateLimits checks that every size limit is positive (there is no "unlimited" size) and
// that every rate or count limit is 0 (off) or more.
func validateLimits(where string, l protocol.Limits) []error {
	var errs []error
	v := reflect.ValueOf(l)
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("koanf")
		n := v.Field(i).Int()
		switch {
		case sizeLimits[name] && n <= 0:
			errs = append(errs, fmt.Errorf("%s.%s %d: must be more than 0", where, name, n))
		case n < 0:
			errs = append(errs, fmt.Errorf("%s.%s %d: must be 0 (off) or more", where, name, n))
		}
	}
	return errs
}

// sizeLimits are the limits that must be positive; the others may be 0 for "no limit".
var sizeLimits = map[string]bool{
	"max_presence_members": true, "max_presence_member_size": true, "max_event_data_size": true,
	"max_event_name_length": true, "max_channel_name_length": true, "max_channels_per_event": true,
	"max_batch_events": true, "max_message_size": true,
}

// validOrigin accepts what a browser sends as Origin (scheme://host[:port]), a host starting
// with "*." for any subdomain, and "*".
func validOrigin(o string) bool {
	if o == "*" {
		return true
	}
	scheme, host, ok := strings.Cut(strings.TrimSuffix(o, "/"), "://")
	host = strings.TrimPrefix(host, "*.")
	return ok && scheme != "" && host != "" && !strings.ContainsAny(host, "/?#@*") && !strings.ContainsAny(scheme, "/:")
}
