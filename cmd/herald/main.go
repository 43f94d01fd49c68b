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
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
	"github.com/herald-io/herald/transport"
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

	w := cfg.Webhooks
	engine, err := actors.NewEngine(actors.Options{
		Apps: appsFromConfig(cfg), Logger: logger, Cluster: clusterFromConfig(cfg),
		Webhooks: actors.WebhookOptions{
			BatchWindow: w.BatchWindow, BatchMaxEvents: w.BatchMaxEvents, Timeout: w.Timeout,
			InitialBackoff: w.InitialBackoff, MaxBackoff: w.MaxBackoff, RetryFor: w.RetryFor, QueueLimit: w.QueueLimit,
		},
		WebhookDelay: w.Delay,
		Telemetry:    tel,
		NodeName:     tc.NodeName,
	})
	if err != nil {
		return err
	}
	defer engine.Shutdown()
	exempt, err := cfg.ExemptPrefixes()
	if err != nil {
		return err
	}
	opts := transport.Options{
		ActivityTimeout:      cfg.ActivityTimeout,
		PongTimeout:          cfg.PongTimeout,
		WriteQueueBytes:      cfg.WriteQueueBytes,
		Logger:               logger,
		Telemetry:            tel,
		ConnectionRatePerIP:  cfg.ConnectionRatePerIP,
		ConnectionRateExempt: exempt,
		Apps:                 policiesFromConfig(cfg),
	}
	ws, api := "ws", "http"
	if cfg.TLS.Enabled() {
		if opts.TLS, err = transport.LoadTLS(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			return err
		}
		ws, api = "wss", "https"
	}
	server := transport.New(engine, opts)
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
	if err := engine.FlushWebhooks(shutdownCtx); err != nil {
		logger.Warn("webhooks not all sent before the grace period ended", "error", err)
	}
	return nil
}

func appsFromConfig(cfg *configs.Config) []*actors.App {
	apps := make([]*actors.App, len(cfg.Apps))
	for i, a := range cfg.Apps {
		l := a.Limits
		apps[i] = &actors.App{
			ID: a.ID, Key: a.Key, Secret: a.Secret, Enabled: a.Enabled,
			ClientEvents: a.ClientEvents, UserAuthentication: a.UserAuthentication,
			UserAuthenticationTimeout: a.UserAuthenticationTimeout,
			CacheTTL:                  a.CacheTTL, SubscriptionCount: a.SubscriptionCount,
			Limits: protocol.Limits{
				MaxConnections:            l.MaxConnections,
				MaxClientEventsPerSecond:  l.MaxClientEventsPerSecond,
				MaxBackendEventsPerSecond: l.MaxBackendEventsPerSecond,
				MaxReadRequestsPerSecond:  l.MaxReadRequestsPerSecond,
				MaxPresenceMembers:        l.MaxPresenceMembers,
				MaxPresenceMemberSize:     l.MaxPresenceMemberSize,
				MaxEventDataSize:          l.MaxEventDataSize,
				MaxEventNameLength:        l.MaxEventNameLength,
				MaxChannelNameLength:      l.MaxChannelNameLength,
				MaxChannelsPerEvent:       l.MaxChannelsPerEvent,
				MaxBatchEvents:            l.MaxBatchEvents,
				MaxMessageSize:            l.MaxMessageSize,
			},
		}
		for _, w := range a.Webhooks {
			apps[i].Webhooks = append(apps[i].Webhooks, actors.Webhook{URL: w.URL, EventTypes: w.EventTypes})
		}
	}
	return apps
}

func policiesFromConfig(cfg *configs.Config) map[string]transport.AppPolicy {
	out := make(map[string]transport.AppPolicy, len(cfg.Apps))
	for _, a := range cfg.Apps {
		out[a.ID] = transport.AppPolicy{
			AllowedOrigins:          a.AllowedOrigins,
			MaxConnectionsPerSecond: a.Limits.MaxConnectionsPerSecond,
			MaxSubscribesPerSecond:  a.Limits.MaxSubscribesPerSecond,
		}
	}
	return out
}

func clusterFromConfig(cfg *configs.Config) *actors.ClusterOptions {
	c := cfg.Cluster
	if !c.Enabled {
		return nil
	}
	return &actors.ClusterOptions{
		Name: c.Name, Address: c.Address, Provider: c.Provider,
		AutoManagedPort: c.Automanaged.Port, Seeds: c.Automanaged.Seeds,
		EtcdEndpoints: c.Etcd.Endpoints, EtcdPrefix: c.Etcd.Prefix,
	}
}
