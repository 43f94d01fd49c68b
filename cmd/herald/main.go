// Command herald is a Pusher Channels protocol server. With no arguments it serves the embedded
// default app on 127.0.0.1:6001; `herald --config FILE` reads YAML, and HERALD_* environment
// variables override both (see configs/default.yaml for every key).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
	"github.com/herald-io/herald/transport"
	"github.com/herald-io/herald/transport/webhooks"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		return probe(os.Args[2:])
	}
	configPath := flag.String("config", "", "YAML config file (keys as in configs/default.yaml)")
	listen := flag.String("listen", "", "override listen, e.g. 127.0.0.1:6001")
	printDefaults := flag.Bool("print-default-config", false, "print the embedded default config and exit")
	flag.Parse()
	if *printDefaults {
		_, err := os.Stdout.Write(configs.DefaultYAML())
		return err
	}
	overrides := map[string]any{}
	if *listen != "" {
		overrides["listen"] = *listen
	}
	cfg, err := configs.Load(*configPath, os.Environ(), overrides)
	if err != nil {
		return err
	}
	logger, err := telemetry.NewLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}

	tc := cfg.Telemetry
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{
		ServiceName: tc.ServiceName, NodeName: tc.NodeName, MetricsListen: cfg.MetricsListen, Pprof: cfg.Pprof,
		Traces: telemetry.TracesConfig{Exporter: tc.Traces.Exporter, Endpoint: tc.Traces.Endpoint, SampleRatio: tc.Traces.SampleRatio},
	}, logger)
	if err != nil {
		return err
	}

	webhookDelivery := webhooks.New(cfg.Webhooks, webhooks.Deps{Logger: logger, Telemetry: tel})
	engine, err := actors.New(cfg, actors.Deps{Logger: logger, Telemetry: tel, Webhooks: webhookDelivery})
	if err != nil {
		return err
	}
	defer engine.Shutdown()
	deps := transport.Deps{Logger: logger, Telemetry: tel}
	ws, api := "ws", "http"
	if cfg.TLS.Enabled() {
		if deps.TLS, err = transport.LoadTLS(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			return err
		}
		ws, api = "wss", "https"
	}
	server, err := transport.New(engine, cfg, deps)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	// Tests wait for this exact line; keep its shape.
	fmt.Printf("herald listening on %s\n", l.Addr())
	for _, a := range cfg.Apps {
		fmt.Printf("  app id=%s key=%s secret=%s client_events=%t enabled=%t\n", a.ID, a.Key, a.Secret, a.ClientEvents, a.Enabled)
	}
	fmt.Printf("  WebSocket %s://%s/app/{key}?protocol=7   HTTP API %s://%s/apps/{id}/events\n", ws, l.Addr(), api, l.Addr())
	if addr := tel.MetricsAddr(); addr != "" {
		fmt.Printf("  metrics http://%s/metrics   probes /up /ready\n", addr)
	}
	tel.Metrics().ObserveClusterMembers(engine.Members)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- server.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", cfg.ShutdownGrace)
	tel.SetReady(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	defer func() { _ = tel.Shutdown(shutdownCtx) }()
	if err := server.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Leave the cluster before the last webhooks go: until its grains are handed over, they
	// still produce webhooks (a member joining elsewhere, a check coming due).
	engine.Shutdown()
	if err := webhookDelivery.Flush(shutdownCtx); err != nil {
		logger.Warn("webhooks not all sent before the grace period ended", "error", err)
	}
	return nil
}
