// Command herald is a Pusher Channels protocol server. With no arguments it serves the embedded
// default app on 127.0.0.1:6001; `herald --config FILE` reads YAML, and HERALD_* environment
// variables override both (see configs/default.yaml for every key). `herald --help` says it all.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
	"github.com/herald-io/herald/transport"
	"github.com/herald-io/herald/transport/webhooks"
)

func main() {
	err := run()
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "herald: %s\nRun 'herald --help' for the flags and the configuration.\n", ue.msg)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "probe":
			return probe(os.Args[2:])
		case "version":
			fmt.Println(versionLine())
			return nil
		case "help":
			printUsage(os.Stdout)
			return nil
		}
	}
	opts, err := parseArgs(os.Args[1:])
	switch {
	case err != nil:
		return err
	case opts.help:
		printUsage(os.Stdout)
		return nil
	case opts.version:
		fmt.Println(versionLine())
		return nil
	case opts.printDefaults:
		_, err := os.Stdout.Write(configs.DefaultYAML())
		return err
	}
	cfg, err := configs.Load(opts.configPath, os.Environ(), opts.overrides())
	if err != nil {
		return err
	}
	logger, err := telemetry.NewLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format, telemetry.DebugPerSecond(cfg.Log.DebugPerSecond))
	if err != nil {
		return err
	}

	tel, err := telemetry.Setup(context.Background(), telemetryConfig(cfg), logger)
	if err != nil {
		return withPortHint(err, "--metrics-listen 127.0.0.1:0")
	}

	tap := node.NewTap() // the debug console's: the actors and the webhook delivery record into it
	webhookDelivery := webhooks.New(cfg.Webhooks, webhooks.Deps{Logger: logger, Telemetry: tel, Console: tap})
	engine, err := actors.New(cfg, actors.Deps{Logger: logger, Telemetry: tel, Webhooks: webhookDelivery, Tap: tap})
	if err != nil {
		return err
	}
	defer engine.Shutdown()
	deps := transport.Deps{Logger: logger, Telemetry: tel}
	if cfg.TLS.Enabled() {
		if deps.TLS, err = transport.LoadTLS(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			return err
		}
	}
	server, err := transport.New(engine, cfg, deps)
	if err != nil {
		return err
	}
	stopApps, err := startApps(cfg, func() (*configs.Config, error) { return configs.Load(opts.configPath, os.Environ(), opts.overrides()) },
		server, tel, logger)
	if err != nil {
		return err
	}
	defer stopApps()
	// Before the banner: whoever waits for it may signal at once.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return withPortHint(err, "--listen 127.0.0.1:0")
	}
	banner{cfg: cfg, listen: l.Addr().String(), metrics: tel.MetricsAddr(), traces: tel.TracesDestination(),
		configFile: opts.configPath, env: heraldEnv(os.Environ()), tls: cfg.TLS.Enabled()}.write(os.Stdout)
	tel.Metrics().ObserveClusterMembers(engine.Members)
	closeConsole, err := serveConsole(cfg, engine, server, logger, tel)
	if err != nil {
		return err
	}
	defer closeConsole()

	memoryCtx, stopMemory := context.WithCancel(context.Background())
	defer stopMemory()
	go returnMemory(memoryCtx, logger, server.Sockets)
	served := make(chan error, 1)
	go func() { served <- server.Serve(l) }()
	var sig os.Signal
	select {
	case err := <-served:
		return err
	case sig = <-signals:
	}
	logger.Info("shutting down; a second signal exits at once", "signal", sig.String(), "grace", cfg.ShutdownGrace)
	go exitOnSecondSignal(signals)
	tel.SetReady(false)
	closeConsole()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	defer func() {
		if err := tel.Shutdown(shutdownCtx); err != nil {
			logger.Warn("telemetry shutdown", "err", err)
		}
	}()
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

// exitOnSecondSignal ends the process at once on a second SIGINT or SIGTERM: someone who
// presses Ctrl-C twice does not want to wait for the graceful shutdown. The status is the
// shell's for a process killed by that signal (130 for SIGINT, 143 for SIGTERM).
func exitOnSecondSignal(signals <-chan os.Signal) {
	sig := <-signals
	fmt.Fprintf(os.Stderr, "herald: second signal (%s): exiting now, without finishing the shutdown\n", sig)
	status := 1
	if s, ok := sig.(syscall.Signal); ok {
		status = 128 + int(s)
	}
	os.Exit(status)
}

// withPortHint adds to an address-in-use error how to run a second herald beside the first.
func withPortHint(err error, flagHint string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w (another herald running? give this one other ports, e.g. %s)", err, flagHint)
	}
	return err
}

// telemetryConfig is the telemetry section of the config as telemetry.Setup takes it.
func telemetryConfig(cfg *configs.Config) telemetry.Config {
	tc := cfg.Telemetry
	return telemetry.Config{
		ServiceName: tc.ServiceName, NodeName: tc.NodeName, MetricsListen: cfg.MetricsListen, Pprof: cfg.Pprof,
		Traces: telemetry.TracesConfig{Exporter: tc.Traces.Exporter, Endpoint: tc.Traces.Endpoint,
			SampleRatio: tc.Traces.SampleRatio, FlushTimeout: tc.Traces.FlushTimeout},
	}
}
