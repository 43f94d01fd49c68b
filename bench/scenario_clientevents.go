package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/protocol"
)

// clientEvent is the name of the client events pairs exchange.
const clientEvent = "client-bench"

// clientEvents connects cfg.Pairs pairs of sockets, each pair subscribed to its own private
// channel; then every socket sends cfg.Rate client events per second for cfg.Duration, which
// the server must deliver to its partner (and never echo to the sender).
func (r *runner) clientEvents(ctx context.Context) error {
	cfg := r.cfg
	n := 2 * cfg.Pairs
	names := make([]string, cfg.Pairs)
	for i := range names {
		names[i] = fmt.Sprintf("private-bench-%s-%d", r.runID, i)
	}
	shards := newShardedHistogram(4 * runtime.GOMAXPROCS(0))
	rcv := make([]*receiver, n)
	sentOK := make([]*okSet, n)
	expect := make([]*okSet, n)
	for i := range rcv {
		rcv[i] = &receiver{event: []byte(clientEvent), hist: shards.shard(i)}
		sentOK[i] = &okSet{}
	}
	for i := range expect {
		expect[i] = sentOK[i^1] // the partner's sends
	}

	setup := r.sample()
	connectH, subH := NewHistogram(), NewHistogram()
	var ready atomic.Int64
	stopSetup := r.startProgress(func() string { return fmt.Sprintf("subscribed %d/%d", ready.Load(), n) })
	clients := r.dialAll(ctx, n, connectH, func(i int) pusherclient.Options {
		return pusherclient.Options{OnRaw: rcv[i].onRaw, OnMessage: r.messageCounter()}
	}, func(ctx context.Context, i int, c *pusherclient.Client) error {
		start := time.Now()
		ch := names[i/2]
		if _, err := c.Subscribe(ctx, ch, r.t.App.ChannelAuth(c.SocketID(), ch, ""), ""); err != nil {
			atomic.AddInt64(&r.res.SubscribeErrors, 1)
			return err
		}
		subH.Record(time.Since(start))
		atomic.AddInt64(&r.res.Subscribed, 1)
		return nil
	}, &ready)
	stopSetup()
	defer func() { r.closeAll(clients) }()
	r.res.setHist("connect", connectH)
	r.res.setHist("subscribe", subH)
	// A socket whose partner is missing expects nothing; one that is missing receives nothing.
	for i := range clients {
		if clients[i] == nil || clients[i^1] == nil {
			rcv[i] = nil
		}
	}
	if ctx.Err() != nil {
		return nil
	}

	before := r.sample()
	cpu0 := selfCPU()
	start := time.Now()
	var sent atomic.Int64
	stop := r.startProgress(func() string {
		var got int64
		for _, rc := range rcv {
			if rc != nil {
				got += rc.unique.Load()
			}
		}
		return fmt.Sprintf("sent %d client events, %d delivered", sent.Load(), got)
	})
	seqs := make([]uint64, n)
	var data, frame []byte
	pace(ctx, cfg.Rate*float64(n), cfg.Duration, 0, func(i int64) {
		s := int(i % int64(n))
		c := clients[s]
		if c == nil || clients[s^1] == nil {
			return
		}
		seqs[s]++
		data = appendMarker(data[:0], seqs[s], time.Now().UnixNano(), cfg.Payload)
		frame = protocol.AppendEventRawData(frame[:0], clientEvent, names[s/2], data, "")
		sent.Add(1)
		if err := c.SendRaw(frame); err != nil {
			atomic.AddInt64(&r.res.SendErrors, 1)
			return
		}
		sentOK[s].add(seqs[s])
	})
	sendPhase := time.Since(start)
	r.finishDeliveries(ctx, deliveryRun{
		rcv: rcv, expect: expect, shards: shards, start: start, sendPhase: sendPhase,
		stopProgress: stop, clientCPU0: cpu0, setup: setup, before: before, sent: sent.Load(),
	})
	return nil
}
