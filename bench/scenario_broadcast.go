package bench

import (
	"errors"

	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
)

// broadcastEvent is the name of the events fanout and channels trigger.
const broadcastEvent = "bench-event"

// broadcast is fanout (one channel) and channels (many): subsPer sockets subscribe to each of
// nChannels public channels, then events are triggered through the HTTP API at cfg.Rate per
// second in total for cfg.Duration (batch > 1: that many events, to consecutive channels, per
// batch_events request), each carrying its send time and its channel's sequence number.
func (r *runner) broadcast(ctx context.Context, nChannels, subsPer, batch int) error {
	cfg := r.cfg
	names := make([]string, nChannels)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%s-%d", r.runID, i)
	}
	if nChannels == 1 {
		names[0] = "bench-" + r.runID + "-fanout"
	}
	n := nChannels * subsPer
	shards := newShardedHistogram(4 * runtime.GOMAXPROCS(0))
	rcv := make([]*receiver, n)
	for i := range rcv {
		rcv[i] = &receiver{event: []byte(broadcastEvent), hist: shards.shard(i)}
	}
	oks := make([]*okSet, nChannels)
	for i := range oks {
		oks[i] = &okSet{}
	}
	expect := make([]*okSet, n)
	for i := range expect {
		expect[i] = oks[i%nChannels]
	}

	setup := r.sample()
	connectH, subH := NewHistogram(), NewHistogram()
	var ready atomic.Int64
	stopSetup := r.startProgress(func() string {
		return fmt.Sprintf("subscribed %d/%d errors %d", ready.Load(), n, atomic.LoadInt64(&r.res.ConnectErrors)+atomic.LoadInt64(&r.res.SubscribeErrors))
	})
	clients := r.dialAll(ctx, n, connectH, func(i int) pusherclient.Options {
		return pusherclient.Options{OnRaw: rcv[i].onRaw, OnMessage: r.messageCounter()}
	}, func(ctx context.Context, i int, c *pusherclient.Client) error {
		start := time.Now()
		if _, err := c.Subscribe(ctx, names[i%nChannels], "", ""); err != nil {
			atomic.AddInt64(&r.res.SubscribeErrors, 1)
			return err
		}
		subH.Record(time.Since(start))
		atomic.AddInt64(&r.res.Subscribed, 1)
		return nil
	}, &ready)
	stopSetup()
	defer func() { r.closeAll(clients) }()
	for i, c := range clients {
		if c == nil {
			rcv[i] = nil // never subscribed: expects nothing
		}
	}
	r.res.setHist("connect", connectH)
	r.res.setHist("subscribe", subH)
	if ctx.Err() != nil {
		return nil
	}

	before := r.sample()
	cpu0 := selfCPU()
	start := time.Now()
	var sent, delivered atomic.Int64
	stop := r.startProgress(func() string {
		var got int64
		for _, rc := range rcv {
			if rc != nil {
				got += rc.unique.Load()
			}
		}
		delivered.Store(got)
		return fmt.Sprintf("sent %d events, %d deliveries, send errors %d", sent.Load(), got, atomic.LoadInt64(&r.res.SendErrors))
	})

	type job struct {
		channels []int
		seqs     []uint64
	}
	jobs := make(chan job, cfg.HTTPWorkers*4)
	var wg sync.WaitGroup
	for range cfg.HTTPWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var data []byte
			for j := range jobs {
				r.trigger(ctx, j.channels, j.seqs, names, oks, batch, &data)
				sent.Add(int64(len(j.seqs)))
			}
		}()
	}
	perReq := max(batch, 1)
	nextSeq := make([]uint64, nChannels)
	nextCh := 0
	pace(ctx, cfg.Rate/float64(perReq), cfg.Duration, 0, func(int64) {
		j := job{channels: make([]int, perReq), seqs: make([]uint64, perReq)}
		for k := range perReq {
			ch := nextCh
			nextCh = (nextCh + 1) % nChannels
			nextSeq[ch]++
			j.channels[k], j.seqs[k] = ch, nextSeq[ch]
		}
		select {
		case jobs <- j:
		case <-ctx.Done():
		}
	})
	close(jobs)
	wg.Wait()
	sendPhase := time.Since(start)

	r.finishDeliveries(ctx, deliveryRun{
		rcv: rcv, expect: expect, shards: shards, start: start, sendPhase: sendPhase,
		stopProgress: stop, clientCPU0: cpu0, setup: setup, before: before, sent: sent.Load(),
	})
	return nil
}

// trigger sends one request: an /events trigger, or a batch_events of several, and records the
// sequence numbers that the server accepted. A server that pushes back (an answer with
// Retry-After: overloaded, or over a rate) gets the same events again after the wait it asks
// for, as a Pusher HTTP library user who honours it would, until the run ends.
func (r *runner) trigger(ctx context.Context, chans []int, seqs []uint64, names []string, oks []*okSet, batch int, data *[]byte) {
	for {
		err := r.triggerOnce(ctx, chans, seqs, names, batch, data)
		var apiErr *pusherclient.APIError
		if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 && ctx.Err() == nil {
			atomic.AddInt64(&r.res.PushedBack, 1)
			select {
			case <-time.After(apiErr.RetryAfter):
				continue
			case <-ctx.Done():
			}
		}
		if err != nil {
			atomic.AddInt64(&r.res.SendErrors, int64(len(chans)))
			if ctx.Err() == nil {
				r.countError(err)
			}
			return
		}
		for k, ch := range chans {
			oks[ch].add(seqs[k])
		}
		return
	}
}

func (r *runner) triggerOnce(ctx context.Context, chans []int, seqs []uint64, names []string, batch int, data *[]byte) error {
	atomic.AddInt64(&r.res.SendRequests, 1)
	var err error
	if batch <= 1 {
		*data = appendMarker((*data)[:0], seqs[0], time.Now().UnixNano(), r.cfg.Payload)
		_, err = r.api.Trigger(ctx, []string{names[chans[0]]}, broadcastEvent, string(*data), pusherclient.TriggerOptions{})
	} else {
		evs := make([]pusherclient.BatchEvent, len(chans))
		now := time.Now().UnixNano()
		for k, ch := range chans {
			*data = appendMarker((*data)[:0], seqs[k], now, r.cfg.Payload)
			evs[k] = pusherclient.BatchEvent{Channel: names[ch], Name: broadcastEvent, Data: string(*data)}
		}
		_, err = r.api.TriggerBatch(ctx, evs)
	}
	return err
}
