package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
)

// connect opens cfg.Connections sockets (each subscribed to one of cfg.Channels public
// channels when Channels > 0), holds them idle for cfg.Duration and measures the server's RSS
// growth per socket, then closes them.
func (r *runner) connect(ctx context.Context) error {
	cfg := r.cfg
	setup := r.sample()
	connectH, subH := NewHistogram(), NewHistogram()
	var ready atomic.Int64
	stop := r.startProgress(func() string {
		return fmt.Sprintf("connected %d/%d errors %d", ready.Load(), cfg.Connections, atomic.LoadInt64(&r.res.ConnectErrors))
	})
	var then func(ctx context.Context, i int, c *pusherclient.Client) error
	if cfg.Channels > 0 {
		then = func(ctx context.Context, i int, c *pusherclient.Client) error {
			start := time.Now()
			ch := fmt.Sprintf("bench-%s-idle-%d", r.runID, i%cfg.Channels)
			if _, err := c.Subscribe(ctx, ch, "", ""); err != nil {
				atomic.AddInt64(&r.res.SubscribeErrors, 1)
				return err
			}
			subH.Record(time.Since(start))
			atomic.AddInt64(&r.res.Subscribed, 1)
			return nil
		}
	}
	start := time.Now()
	clients := r.dialAll(ctx, cfg.Connections, connectH, func(int) pusherclient.Options {
		return pusherclient.Options{OnMessage: r.messageCounter()}
	}, then, &ready)
	elapsed := time.Since(start)
	stop()
	r.res.Elapsed = elapsed.Seconds()
	r.res.setHist("connect", connectH)
	if cfg.Channels > 0 {
		r.res.setHist("subscribe", subH)
	}
	r.res.extra("connects/s", rate(r.res.Connections, elapsed))

	// Hold the sockets idle so that what the server allocated lazily settles before measuring.
	if cfg.Duration > 0 {
		select {
		case <-time.After(cfg.Duration):
		case <-ctx.Done():
		}
	}
	loaded := r.sample()
	r.closeAll(clients)
	after := r.sample()
	r.res.ServerSetup, r.res.Server, r.res.ServerAfter = setup, loaded, after
	if setup != nil && loaded != nil {
		r.res.ServerCPU = loaded.CPUSeconds - setup.CPUSeconds
		if r.res.ServerCPU > 0 {
			r.res.extra("connections per server CPU-s", float64(r.res.Connections)/r.res.ServerCPU)
		}
		if r.res.Connections > 0 {
			r.res.MemPerConn = float64(loaded.RSSBytes-setup.RSSBytes) / float64(r.res.Connections)
		}
	}
	r.res.Primary = "connect"
	return nil
}
