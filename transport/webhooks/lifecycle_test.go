package webhooks

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-io/herald/configs"
)

func TestFlushSendsAtOnceForEveryApp(t *testing.T) {
	r := newReceiver(t, nil, nil)
	h := start(t, testConfig(func(c *configs.WebhookDelivery) { c.BatchWindow = time.Hour }), Deps{})
	ids := []string{"one", "two"}
	for _, id := range ids {
		app := hookApp(configs.Webhook{URL: r.url() + "?app=" + id})
		app.ID = id
		h.d.Emit(app, occupied("a"))
	}
	h.flush() // no clock moves: the hour-long windows are not waited for
	r.next()
	r.next()
	r.none()
	for _, id := range ids {
		h.checkStats(id, Stats{Sent: 1, Posts: 1})
	}

	// Flush stopped the delivery: later events are ignored, not queued or counted.
	h.d.Emit(hookApp(configs.Webhook{URL: r.url()}), occupied("b"))
	h.checkStats(hookAppID, Stats{})
	if err := h.d.Flush(context.Background()); err != nil {
		t.Fatalf("second flush: %v", err)
	}
}

// TestFlushRetriesTheBacklogAtOnce: a batch waiting for an hour of back-off is sent again by
// Flush without waiting for it.
func TestFlushRetriesTheBacklogAtOnce(t *testing.T) {
	r := newReceiver(t, func(n int) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}, nil)
	h := start(t, testConfig(func(c *configs.WebhookDelivery) { c.InitialBackoff, c.MaxBackoff = time.Hour, time.Hour }), Deps{})
	h.d.Emit(hookApp(configs.Webhook{URL: r.url()}), occupied("a"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	first := r.next()
	h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == 1 })
	h.flush()
	if again := r.next(); again.raw != first.raw || again.status != http.StatusOK {
		t.Fatalf("flush sent %s (%d), want %s again", again.raw, again.status, first.raw)
	}
	h.checkStats(hookAppID, Stats{Sent: 1, Posts: 1, Failed: 1, Retried: 1})
}

func TestFlushEndsWithContextAndCountsUnsent(t *testing.T) {
	r := newReceiver(t, func(int) int { return http.StatusServiceUnavailable }, nil)
	h := start(t, testConfig(func(c *configs.WebhookDelivery) {
		c.BatchWindow, c.InitialBackoff, c.MaxBackoff = time.Hour, time.Hour, time.Hour
	}), Deps{})
	h.d.Emit(hookApp(configs.Webhook{URL: r.url()}), occupied("a"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Flush(ctx) }()
	r.next() // posted at once, refused: now an hour of back-off
	h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == 1 })
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "1 events left unsent") {
		t.Fatalf("flush: %v, want context.Canceled and 1 event unsent", err)
	}
	h.checkStats(hookAppID, Stats{Failed: 1, Dropped: 1})
	if lines := h.logs.with("stopped with events unsent"); len(lines) != 1 || lines[0].attrs["dropped"] != "1" {
		t.Fatalf("stop lines %+v", lines)
	}
}

// TestCloseDropsWhatWaits: Close ends a POST in flight and drops it with what is queued,
// counted and logged once; Emit afterwards does nothing.
func TestCloseDropsWhatWaits(t *testing.T) {
	r := newReceiver(t, nil, func(int) bool { return true })
	h := start(t, testConfig(nil), Deps{})
	app := hookApp(configs.Webhook{URL: r.url()})
	h.d.Emit(app, occupied("a"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	r.arrived()
	h.d.Emit(app, occupied("b"))
	h.d.Emit(app, occupied("c"))
	h.d.Close() // returns although the receiver never answers
	h.checkStats(hookAppID, Stats{Dropped: 3})
	h.d.Emit(app, occupied("d"))
	h.d.Close()
	h.checkStats(hookAppID, Stats{Dropped: 3})
	if lines := h.logs.with("stopped with events unsent"); len(lines) != 1 || lines[0].attrs["dropped"] != "3" {
		t.Fatalf("stop lines %+v, want one with 3 dropped", lines)
	}
	if err := h.d.Flush(context.Background()); err != nil {
		t.Fatalf("flush after close: %v", err)
	}
}

// TestQueueLimitDropsAndLogsOncePerInterval: a target holds queue_limit events; more are
// dropped, and logged at most once per 10 s with the count since the last line.
func TestQueueLimitDropsAndLogsOncePerInterval(t *testing.T) {
	r := newReceiver(t, nil, nil)
	h := start(t, testConfig(func(c *configs.WebhookDelivery) { c.BatchWindow, c.QueueLimit = time.Hour, 5 }), Deps{})
	app := hookApp(configs.Webhook{URL: r.url()})
	for i := range 12 {
		h.d.Emit(app, occupied(string(rune('a'+i))))
	}
	h.checkStats(hookAppID, Stats{Queued: 5, Dropped: 7})
	h.clock.Advance(logInterval - time.Millisecond)
	h.d.Emit(app, occupied("m")) // still within the interval: counted only
	h.clock.Advance(time.Millisecond)
	h.d.Emit(app, occupied("n")) // a new line for the 2 since the first
	lines := h.logs.with("webhook queue full")
	if len(lines) != 2 || lines[0].attrs["dropped"] != "1" || lines[1].attrs["dropped"] != "8" {
		t.Fatalf("queue-full lines %+v, want two: 1 dropped, then 8", lines)
	}
	h.flush()
	if got := r.next().field("channel"); strings.Join(got, "") != "abcde" {
		t.Fatalf("delivered %v, want the first five", got)
	}
	r.none()
	h.checkStats(hookAppID, Stats{Sent: 5, Posts: 1, Dropped: 9})
}

// TestNothingLeftRunning: after Close no goroutine of the delivery runs, nor a connection of its
// HTTP client, whatever its targets were doing. start checks the same after every test.
func TestNothingLeftRunning(t *testing.T) {
	ok := newReceiver(t, nil, nil)
	held := newReceiver(t, nil, func(int) bool { return true })
	failing := newReceiver(t, func(int) int { return http.StatusInternalServerError }, nil)
	h := start(t, testConfig(nil), Deps{})
	app := hookApp(configs.Webhook{URL: ok.url()}, configs.Webhook{URL: held.url()}, configs.Webhook{URL: failing.url()})
	h.d.Emit(app, occupied("a"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	held.arrived()
	h.waitStats(hookAppID, func(s Stats) bool { return s.Sent == 1 && s.Failed == 1 })
	h.d.Emit(app, occupied("b")) // a window open on two targets
	h.d.Close()
	checkNothingRunning(t)
}

// checkNothingRunning fails t if a goroutine of a Delivery, or of its HTTP client's connections,
// is still there once they have had the time to return.
func checkNothingRunning(t testing.TB) {
	t.Helper()
	ours := []string{"webhooks.(*target)", "webhooks.(*Delivery)", "net/http.(*persistConn)"}
	limit := time.Now().Add(waitLimit)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var left []string
		for _, g := range strings.Split(stacks, "\n\n") {
			for _, o := range ours {
				if strings.Contains(g, o) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(limit) {
			t.Fatalf("%d goroutines left running:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		// Goroutines that were told to end cannot be awaited from outside: look again shortly.
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentEmit: Emit from many goroutines at once, to several apps and targets, while
// full batches go out; Flush then delivers every event exactly once per target.
func TestConcurrentEmit(t *testing.T) {
	r := newReceiver(t, nil, nil)
	h := start(t, testConfig(nil), Deps{})
	const emitters, each = 8, 200
	apps := make([]*configs.App, 3)
	for i := range apps {
		apps[i] = hookApp(configs.Webhook{URL: r.url() + "?target=1"}, configs.Webhook{URL: r.url() + "?target=2"})
		apps[i].ID = "app-" + strconv.Itoa(i)
	}
	var wg sync.WaitGroup
	for e := range emitters {
		wg.Go(func() {
			for i := range each {
				h.d.Emit(apps[(e+i)%len(apps)], occupied(strconv.Itoa(e)+"-"+strconv.Itoa(i)))
			}
		})
	}
	// Drain the receiver meanwhile: its record channel is smaller than the number of POSTs.
	seen := map[string]int{}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for p := range r.posts {
			for _, c := range p.field("channel") {
				seen[c]++
			}
		}
	}()
	wg.Wait()
	h.flush()
	var sent int64
	for _, a := range apps {
		s := h.d.Stats(a.ID)
		if s.Dropped != 0 || s.Queued != 0 || s.Failed != 0 {
			t.Errorf("%s: %+v", a.ID, s)
		}
		sent += s.Sent
	}
	if sent != 2*emitters*each {
		t.Fatalf("%d events delivered, want %d", sent, 2*emitters*each)
	}
	r.srv.Close() // every POST has its answer: no more records
	close(r.posts)
	<-drained
	if len(seen) != emitters*each {
		t.Fatalf("%d distinct events received, want %d", len(seen), emitters*each)
	}
	for c, n := range seen {
		if n != 2 {
			t.Fatalf("event %s received %d times, want once per target", c, n)
		}
	}
}
