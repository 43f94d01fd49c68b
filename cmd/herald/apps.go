package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/configs/appsource"
	"github.com/herald-io/herald/telemetry"
	"github.com/herald-io/herald/transport"
)

// startApps keeps the node's apps current while it runs: the config file's, read again on
// SIGHUP, and the apps database's when apps_database names one (read before it returns: herald
// does not start without them). reload loads the config as at start (file, environment, flags).
// stop ends both.
func startApps(cfg *configs.Config, reload func() (*configs.Config, error), server *transport.Server,
	tel *telemetry.Telemetry, logger *slog.Logger) (stop func(), err error) {
	set := appsource.NewSet(cfg.Apps, server.UpdateApps, logger, tel.Metrics())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if cfg.AppsDatabase.Enabled() {
		db, err := appsource.Open(ctx, cfg, set, appsource.Deps{Logger: logger, Metrics: tel.Metrics()})
		if err != nil {
			cancel()
			return nil, err
		}
		wg.Go(func() { db.Run(ctx) })
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reloadApps(cfg, reload, set, logger)
			}
		}
	})
	return func() {
		signal.Stop(hup)
		cancel()
		wg.Wait()
	}, nil
}

// reloadApps applies the apps of the config as it is now. Every other key keeps the value it
// had at start: the line says which changed ones wait for a restart. A config that does not
// load changes nothing.
func reloadApps(running *configs.Config, reload func() (*configs.Config, error), set *appsource.Set, logger *slog.Logger) {
	next, err := reload()
	if err != nil {
		logger.Error("config reload (SIGHUP) failed: the apps stay as they were", "error", err)
		return
	}
	attrs := append([]any{"file_apps", len(next.Apps)}, set.SetFile(next.Apps).LogAttrs()...)
	if keys := running.RestartKeys(next); len(keys) > 0 {
		attrs = append(attrs, "needs_restart", strings.Join(keys, ","))
	}
	logger.Info("config reloaded (SIGHUP): apps applied", attrs...)
}
