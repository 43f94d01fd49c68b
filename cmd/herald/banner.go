package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/herald-io/herald/configs"
)

// banner is what herald prints on stdout once it listens: where clients connect, with which
// credentials (a secret only as its fingerprint), and where metrics, traces and logs go.
type banner struct {
	cfg        *configs.Config
	listen     string // the address the listener got (port 0 resolved)
	metrics    string // the metrics listener's address, "" when off
	traces     string // telemetry.Telemetry.TracesDestination
	configFile string // "" for the embedded defaults alone
	env        []string
	tls        bool
}

// write prints the banner. Its first line, "herald listening on ADDR", and the line
// "metrics http://ADDR/metrics" are read by tests and scripts: keep their shape.
func (b banner) write(w io.Writer) {
	ws, api := "ws", "http"
	if b.tls {
		ws, api = "wss", "https"
	}
	fmt.Fprintf(w, "herald listening on %s\n", b.listen)
	for _, a := range b.cfg.Apps {
		fmt.Fprintf(w, "  app id=%s key=%s secret_sha256=%s client_events=%t enabled=%t\n",
			a.ID, a.Key, configs.Fingerprint(a.Secret), a.ClientEvents, a.Enabled)
	}
	fmt.Fprintf(w, "  WebSocket %s://%s/app/{key}?protocol=7   HTTP API %s://%s/apps/{id}/events\n", ws, b.listen, api, b.listen)
	if b.metrics != "" {
		fmt.Fprintf(w, "  metrics http://%s/metrics   probes /up /ready\n", b.metrics)
	} else {
		fmt.Fprintln(w, "  metrics off (metrics_listen is empty)")
	}
	fmt.Fprintf(w, "  traces %s   logs stderr (%s, %s)\n", b.traces, b.cfg.Log.Level, b.cfg.Log.Format)
	if c := b.cfg.Cluster; c.Enabled {
		fmt.Fprintf(w, "  cluster %s: this member %s, provider %s\n", c.Name, c.Address, c.Provider)
	}
	if len(b.env) > 0 {
		fmt.Fprintf(w, "  environment %s\n", strings.Join(b.env, " "))
	}
	source := "embedded defaults (herald --print-default-config)"
	if b.configFile != "" {
		source = b.configFile + " over the embedded defaults"
	}
	fmt.Fprintf(w, "  config %s\n", source) // the banner's last line
}

// heraldEnv is the names (never the values) of the HERALD_* variables in environ, sorted.
func heraldEnv(environ []string) []string {
	var names []string
	for _, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, configs.EnvPrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
