package main

import (
	"fmt"
	"log/slog"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
	"github.com/herald-io/herald/transport"
	"github.com/herald-io/herald/transport/console"
)

// serveConsole mounts the debug console on metrics_listen when console.enabled is true. The
// function it returns ends the console's streams; call it before the metrics server's
// shutdown, which would otherwise wait for them.
func serveConsole(cfg *configs.Config, engine *actors.Engine, server *transport.Server, logger *slog.Logger, tel *telemetry.Telemetry) (func(), error) {
	if !cfg.Console.Enabled {
		return func() {}, nil
	}
	c, err := console.New(cfg.Console.Token, console.Deps{
		Engine: engine, Publisher: server, Logger: logger, Telemetry: tel, Node: engine.NodeName(),
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	tel.Handle("/console/", c)
	fmt.Printf("  console http://%s/console/ (token: console.token)\n", tel.MetricsAddr())
	return c.Close, nil
}
