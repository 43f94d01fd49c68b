// Package configs loads herald's configuration with koanf: the embedded default.yaml, then an
// optional YAML file, then HERALD_* environment variables, then command-line overrides. Loading
// is strict: the koanf tags of Config are the schema (keys.go), and a key or variable outside it
// is an error naming the key it most likely meant. It owns the typed Config, the one model of an
// app (App), and their validation, including what herald refuses once it listens beyond
// loopback (exposure.go). default.yaml is the only source of default values: no Go code restates
// one, and tests start from Default().
// It imports only protocol (for the Pusher limits an app has).
package configs

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
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
	SocketSendBuffer     int             `koanf:"socket_send_buffer"`
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
		// FlushTimeout bounds the export of buffered spans at shutdown.
		FlushTimeout time.Duration `koanf:"flush_timeout"`
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
	// DebugPerSecond bounds the debug lines written a second (0: no bound).
	DebugPerSecond int `koanf:"debug_per_second"`
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

// EnvPrefix starts every environment variable herald reads. Every variable that starts with it
// must name a key: a misspelt one stops herald at start rather than being ignored.
const EnvPrefix = "HERALD_"

// Load reads the layers in order: defaults, the YAML file at path (if not empty), the
// environment (environ, as os.Environ returns it), then overrides (keys such as "listen", from
// the command line). Each app in a file or in the environment starts from the default app's
// options and limits, so a file only has to name what differs.
//
// It is strict: a key that herald does not read, in the file or as a HERALD_* variable, is an
// error naming the key, where it came from and the known key it most likely meant, and so is a
// value of the wrong kind; every such problem is reported at once, joined.
func Load(path string, environ []string, overrides map[string]any) (*Config, error) {
	defaults, err := parseYAML(rawbytes.Provider(defaultYAML))
	if err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	t := &tree{root: defaults, sources: map[string]string{}}
	var errs []error
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		f, err := parseYAML(file.Provider(path))
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		errs = append(errs, t.checkFile(f, configSchema, "", "config file "+path)...)
		merge(t.root, f)
	}
	var env []string
	for _, kv := range environ {
		if strings.HasPrefix(kv, EnvPrefix) {
			env = append(env, kv)
		}
	}
	slices.Sort(env) // the same variables give the same errors, in the same order
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		if err := t.setEnv(name, v); err != nil {
			errs = append(errs, err)
		}
	}
	for _, key := range sortedKeys(overrides) {
		if err := t.setOverride(key, overrides[key], "--"+strings.ReplaceAll(key, "_", "-")); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg, err := t.decode()
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, t.annotate(err)
	}
	return cfg, nil
}

// parseYAML reads YAML through koanf, which also makes a dotted key ("log.level: debug") a
// nested one.
func parseYAML(p koanf.Provider) (map[string]any, error) {
	k := koanf.New(".")
	if err := k.Load(p, yaml.Parser()); err != nil {
		return nil, err
	}
	return k.Raw(), nil
}

// merge lays src over dst: sections key by key, any other value (a list included) whole. An
// empty value ("log:" with nothing after it) changes nothing.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			continue
		}
		sub, ok := v.(map[string]any)
		if cur, isMap := dst[k].(map[string]any); ok && isMap {
			merge(cur, sub)
			continue
		}
		dst[k] = v
	}
}

// decode turns the tree into a Config: each app over the default app's options and limits.
func (t *tree) decode() (*Config, error) {
	top := maps.Clone(t.root)
	rawApps, _ := top["apps"].([]any)
	delete(top, "apps")
	cfg := &Config{}
	if err := decodeInto(top, cfg); err != nil {
		return nil, t.decodeError("", err)
	}
	base, err := embeddedApp()
	if err != nil {
		return nil, err
	}
	// Credentials and webhook targets are never inherited: an app without a secret must fail,
	// not get the well-known default one.
	base.ID, base.Key, base.Secret, base.Webhooks = "", "", "", nil
	var errs []error
	for i, raw := range rawApps {
		app := base
		app.AllowedOrigins = slices.Clone(base.AllowedOrigins)
		if err := decodeInto(raw, &app); err != nil {
			errs = append(errs, t.decodeError(index("apps", i), err))
			continue
		}
		cfg.Apps = append(cfg.Apps, app)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// decodeInto decodes a section of the tree as koanf would: durations from strings such as
// "30s", and strings (the environment's values) taken as the numbers and booleans they spell.
func decodeInto(in any, out any) error {
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
		WeaklyTypedInput: true,
		TagName:          "koanf",
		Result:           out,
	})
	if err != nil {
		return err
	}
	return d.Decode(in)
}

// embeddedApp is the default app of default.yaml, credentials included.
var embeddedApp = sync.OnceValues(func() (App, error) {
	defaults, err := parseYAML(rawbytes.Provider(defaultYAML))
	if err != nil {
		return App{}, fmt.Errorf("embedded defaults: %w", err)
	}
	apps, _ := defaults["apps"].([]any)
	var app App
	if len(apps) == 0 {
		return app, errors.New("embedded defaults: no app")
	}
	if err := decodeInto(apps[0], &app); err != nil {
		return app, fmt.Errorf("embedded defaults: apps[0]: %w", err)
	}
	return app, nil
})

// keyError is a problem with the value of one key; Load says where that value came from.
type keyError struct{ key, msg string }

func (e *keyError) Error() string { return e.key + e.msg }

// keyErrorf reports a problem with key; the message follows the key's name directly.
func keyErrorf(key, format string, a ...any) error {
	return &keyError{key: key, msg: fmt.Sprintf(format, a...)}
}

// annotate adds to each problem with a key's value where that value came from.
func (t *tree) annotate(err error) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var out []error
	for _, e := range j.Unwrap() {
		if ke, ok := e.(*keyError); ok && t.from(ke.key) != "" {
			e = fmt.Errorf("%w%s", e, t.from(ke.key))
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Validate reports every problem that would make the config unusable, joined.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, keyErrorf("listen", " is empty"))
	}
	if c.ActivityTimeout < time.Second {
		errs = append(errs, keyErrorf("activity_timeout", " %v: must be at least 1s", c.ActivityTimeout))
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
		{"telemetry.traces.flush_timeout", c.Telemetry.Traces.FlushTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, keyErrorf(d.key, " %v: must be more than 0", d.v))
		}
	}
	if c.WriteQueueBytes <= 0 {
		errs = append(errs, keyErrorf("write_queue_bytes", " %d: must be more than 0", c.WriteQueueBytes))
	}
	if c.SocketSendBuffer < 0 {
		errs = append(errs, keyErrorf("socket_send_buffer", " %d: must be 0 (the kernel's autotuning) or more", c.SocketSendBuffer))
	}
	if c.Webhooks.BatchMaxEvents <= 0 {
		errs = append(errs, keyErrorf("webhooks.batch_max_events", " %d: must be more than 0", c.Webhooks.BatchMaxEvents))
	}
	if c.Webhooks.QueueLimit <= 0 {
		errs = append(errs, keyErrorf("webhooks.queue_limit", " %d: must be more than 0", c.Webhooks.QueueLimit))
	}
	if c.Cluster.Enabled {
		if c.Cluster.Address == "" || c.Cluster.Name == "" {
			errs = append(errs, fmt.Errorf("cluster: name (%q) and address (%q) are required", c.Cluster.Name, c.Cluster.Address))
		}
		switch c.Cluster.Provider {
		case "automanaged":
			if c.Cluster.Automanaged.Port == 0 || len(c.Cluster.Automanaged.Seeds) == 0 {
				errs = append(errs, fmt.Errorf("cluster.automanaged: port (%d) and seeds (%q) are required",
					c.Cluster.Automanaged.Port, c.Cluster.Automanaged.Seeds))
			}
		case "etcd":
			if len(c.Cluster.Etcd.Endpoints) == 0 {
				errs = append(errs, keyErrorf("cluster.etcd.endpoints", ": at least one is required"))
			}
		case "k8s":
		default:
			errs = append(errs, keyErrorf("cluster.provider", " %q: use automanaged, etcd or k8s", c.Cluster.Provider))
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, fmt.Errorf("tls: set both cert_file (%q) and key_file (%q), or neither", c.TLS.CertFile, c.TLS.KeyFile))
	}
	if c.Log.DebugPerSecond < 0 {
		errs = append(errs, keyErrorf("log.debug_per_second", " %d: must be 0 (no bound) or more", c.Log.DebugPerSecond))
	}
	if c.ConnectionRatePerIP < 0 {
		errs = append(errs, keyErrorf("connection_rate_per_ip", " %d: must be 0 (off) or more", c.ConnectionRatePerIP))
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
		app := index("apps", i)
		if missing := missingCredentials(a); len(missing) > 0 {
			names := make([]string, len(missing))
			for j, m := range missing {
				names[j] = envName(app + "." + m)
			}
			errs = append(errs, fmt.Errorf("%s: id, key and secret are required; %s missing (set %s)", app,
				strings.Join(missing, " and "), strings.Join(names, ", ")))
		}
		if a.ID != "" && ids[a.ID] {
			errs = append(errs, keyErrorf(app+".id", ": duplicate id %q", a.ID))
		}
		if a.Key != "" && keys[a.Key] {
			errs = append(errs, keyErrorf(app+".key", ": duplicate key %q", a.Key))
		}
		ids[a.ID], keys[a.Key] = true, true
		errs = append(errs, validateLimits(app+".limits", a.Limits)...)
		if a.CacheTTL <= 0 {
			errs = append(errs, keyErrorf(app+".cache_ttl", " %v: must be more than 0", a.CacheTTL))
		}
		if a.UserAuthenticationTimeout <= 0 {
			errs = append(errs, keyErrorf(app+".user_authentication_timeout", " %v: must be more than 0", a.UserAuthenticationTimeout))
		}
		for _, o := range a.AllowedOrigins {
			if !validOrigin(o) {
				errs = append(errs, keyErrorf(app+".allowed_origins", ": %q is not \"*\" or scheme://host[:port] (host may start with *.)", o))
			}
		}
		for j, w := range a.Webhooks {
			hook := index(app+".webhooks", j)
			if w.URL == "" {
				errs = append(errs, fmt.Errorf("%s: url is empty (set %s.url, or %s)", hook, hook, envName(hook+".url")))
			} else if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, keyErrorf(hook+".url", " %q: must be http(s)://host/...", w.URL))
			}
			for _, t := range w.EventTypes {
				if !slices.Contains(protocol.WebhookEventTypes, t) {
					errs = append(errs, keyErrorf(hook+".event_types", ": unknown event type %q (one of %v)", t, protocol.WebhookEventTypes))
				}
			}
		}
	}
	errs = append(errs, c.checkExposure()...)
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

func missingCredentials(a App) []string {
	var missing []string
	for _, f := range []struct{ name, v string }{{"id", a.ID}, {"key", a.Key}, {"secret", a.Secret}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	return missing
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
			errs = append(errs, keyErrorf(where+"."+name, " %d: must be more than 0", n))
		case n < 0:
			errs = append(errs, keyErrorf(where+"."+name, " %d: must be 0 (off) or more", n))
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
