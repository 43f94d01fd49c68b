package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
)

// scrapeMetrics is tel's /metrics text.
func scrapeMetrics(t *testing.T, tel *telemetry.Telemetry) string {
	t.Helper()
	rr := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rr.Body.String()
}

// fakeLoad is a queueing delay and delivery counts the test sets.
type fakeLoad struct{ d, events, fanned, written atomic.Int64 }

func (f *fakeLoad) delay(time.Time) time.Duration { return time.Duration(f.d.Load()) }

func (f *fakeLoad) delivered() (events, fanned, written int64) {
	return f.events.Load(), f.fanned.Load(), f.written.Load()
}

// TestBackpressure: a trigger while the sockets are more than backpressure.max_delay behind
// waits for them; one that waits backpressure.max_wait in vain is refused with 503, a JSON
// error and Retry-After, and its event is not taken. On the server's clock, which the test moves.
func TestBackpressure(t *testing.T) {
	cfg := configs.Default()
	app := configs.DefaultApp("1", "1-key", "1-secret")
	cfg.Apps = []configs.App{app}
	clock := clockwork.NewFakeClockAt(time.Now().Truncate(time.Second))
	eng, err := actors.New(cfg, actors.Deps{}) // the real clock: the fake one is the server's alone
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Shutdown)
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{MetricsListen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	srv, err := New(eng, cfg, Deps{Clock: clock, Telemetry: tel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.writers.close)
	load := &fakeLoad{}
	srv.load = load
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	api := &pusherclient.API{BaseURL: ts.URL, App: pusherclient.App{ID: app.ID, Key: app.Key, Secret: app.Secret},
		Now: clock.Now}
	trigger := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := api.Trigger(context.Background(), []string{"news"}, "e", "{}", pusherclient.TriggerOptions{})
			done <- err
		}()
		return done
	}

	if err := <-trigger(); err != nil {
		t.Fatalf("not behind: %v", err)
	}

	load.d.Store(int64(cfg.Backpressure.MaxDelay + time.Millisecond))
	waiting := trigger()
	if err := clock.BlockUntilContext(context.Background(), 1); err != nil { // it waits on the clock
		t.Fatal(err)
	}
	load.d.Store(int64(cfg.Backpressure.MaxDelay)) // caught up
	clock.Advance(backpressurePoll)
	if err := <-waiting; err != nil {
		t.Fatalf("caught up while it waited: %v", err)
	}

	load.d.Store(int64(time.Second))
	refused := trigger()
	for waited := time.Duration(0); waited < cfg.Backpressure.MaxWait; waited += backpressurePoll {
		if err := clock.BlockUntilContext(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(backpressurePoll)
	}
	err = <-refused
	apiErr, ok := err.(*pusherclient.APIError)
	if !ok || apiErr.Status != http.StatusServiceUnavailable {
		t.Fatalf("behind for max_wait: %v, want 503", err)
	}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(apiErr.Body), &body) != nil || body.Error == "" {
		t.Fatalf("503 body %q is not {\"error\": ...}", apiErr.Body)
	}
	if apiErr.RetryAfter != time.Second {
		t.Fatalf("Retry-After %v, want 1 s", apiErr.RetryAfter)
	}
	// Both outcomes are counted, and the gauge shows the writers' own delay (none here: the
	// test's delay is a fake load, and nothing was written).
	text := scrapeMetrics(t, tel)
	for _, want := range []string{
		`herald_http_backpressure_total{outcome="taken"} 1`,
		`herald_http_backpressure_total{outcome="refused"} 1`,
		`herald_write_delay_seconds 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Reads are not held back.
	if status, _, err := api.Do(context.Background(), http.MethodGet, api.AppPath("/channels"), url.Values{}, nil); err != nil || status != http.StatusOK {
		t.Fatalf("GET /channels while behind: %d %v", status, err)
	}
}

// The delay that backpressure compares with max_delay counts from when herald took a frame's
// event (its wait in the fan-out's queue included, not only in the socket's), and leaves out a
// socket whose client does not read: that client is a slow consumer, closed on its own, not a
// sign that herald is behind.
func TestWriteDelayCountsFromTakenAndSkipsStalledSockets(t *testing.T) {
	newSocketOn := func() (*socket, *writers) {
		w, _ := tcpPair(t) // the reader never reads
		ws := &writers{}
		ws.cond = sync.NewCond(&ws.mu) // no writer goroutines: the test runs each turn itself
		return &socket{net: w, raw: rawOf(t, w), server: &Server{writers: ws}, limit: 64 << 20}, ws
	}
	var raw rawWriter
	hourAgo := time.Now().Add(-time.Hour)

	sock, ws := newSocketOn()
	sock.enqueue(wireText([]byte("taken an hour ago")), hourAgo)
	sock.flush(&raw)
	if d := ws.delay.current(time.Now()); d < time.Hour {
		t.Fatalf("a frame whose event was taken an hour ago went out with a delay of %v, want >= 1h", d)
	}
	if ws.written.Load() == 0 {
		t.Fatal("the bytes written were not counted")
	}

	sock, ws = newSocketOn()
	sock.enqueue(wireText(bytes.Repeat([]byte("x"), 8<<20)), time.Time{}) // more than the kernel takes
	sock.flush(&raw)
	sock.mu.Lock()
	stalled := sock.stalled
	sock.since = hourAgo // what is left has waited an hour on its client
	sock.mu.Unlock()
	if !stalled {
		t.Fatal("a socket whose client took only part of its turn is not marked stalled")
	}
	sock.flush(&raw) // the client still does not read
	if d := ws.delay.current(time.Now()); d >= time.Hour {
		t.Fatalf("a stalled socket's wait counted as the node's delay: %v", d)
	}
}

// The pace follows what the node delivered: its fan-outs' events, scaled by the share of their
// bytes the writers got out; it lets in about that rate (a little more, to climb), nothing
// while the node is behind, and still applies for paceHold after the node was last behind.
func TestPacerLetsInWhatTheNodeDelivered(t *testing.T) {
	load := &fakeLoad{}
	p := newPacer()
	t0 := time.Now().Truncate(time.Second)
	p.sample(t0, load, 1)
	load.events.Store(100) // 500 events/s over the sample, all written
	load.fanned.Store(100_000)
	load.written.Store(100_000)
	t1 := t0.Add(paceSample)
	p.sample(t1, load, 1)
	want := 500 * paceClimb
	if p.pace != want {
		t.Fatalf("pace %v after 500 events/s delivered, want %v", p.pace, want)
	}
	limit := 250 * time.Millisecond
	if p.allow(t1, 1, limit+time.Millisecond, limit) {
		t.Fatal("let an event in while the node is behind")
	}
	in := 0
	for now := t1; now.Before(t1.Add(time.Second)); now = now.Add(time.Millisecond) {
		for p.allow(now, 1, limit, limit) {
			in++
		}
	}
	if lo, hi := int(want*0.95), int(want*1.05)+int(want*backpressurePoll.Seconds())+1; in < lo || in > hi {
		t.Fatalf("let in %d events in a second at a pace of %v, want %d-%d", in, want, lo, hi)
	}

	// The writers got out half of what the fan-outs handed them: half the pace, at most
	// paceCeiling times that.
	load.events.Store(200)
	load.fanned.Store(200_000)
	load.written.Store(150_000)
	p.sample(t1.Add(paceSample), load, 1)
	if ceiling := 250*paceCeiling + paceFloor; p.pace != ceiling {
		t.Fatalf("pace %v when the writers got out half, want the ceiling %v", p.pace, ceiling)
	}

	// The same with the delay at max_delay: no margin, what the node delivered.
	load.events.Store(300)
	load.fanned.Store(300_000)
	load.written.Store(200_000)
	p.sample(t1.Add(2*paceSample), load, headroom(limit, limit))
	if edge := 250.0 + paceFloor; p.pace != edge {
		t.Fatalf("pace %v with the delay at max_delay, want what the node delivered %v", p.pace, edge)
	}
	if headroom(0, limit) != 1 || headroom(limit/4, limit) != 0.75 || headroom(2*limit, limit) != 0 {
		t.Fatal("headroom is not the share of max_delay the delay leaves, within 0-1")
	}

	p.behind(t1)
	if !p.recovering(t1.Add(paceHold-time.Millisecond)) || p.recovering(t1.Add(paceHold)) {
		t.Fatalf("the pace does not hold for exactly paceHold after the node was behind")
	}
}

// The open gate lets anything in on a node that was never behind, or not for surgeMemory; within
// surgeMemory, it lets in a burst of max_delay's worth of the pace, then the pace.
func TestOpenGateNearTheLimitLetsInThePace(t *testing.T) {
	load := &fakeLoad{}
	t0 := time.Now().Truncate(time.Second)
	limit := 500 * time.Millisecond
	paced := func() *pacer {
		p := newPacer()
		p.sample(t0, load, 1)
		load.events.Add(100) // 500 events/s over the sample, all written
		load.fanned.Add(100_000)
		load.written.Add(100_000)
		p.sample(t0.Add(paceSample), load, 1)
		return p
	}
	never := paced()
	for range 10 {
		if !never.open(t0.Add(paceSample), 1000, limit) {
			t.Fatal("the open gate of a node never behind refused a burst")
		}
	}

	p := paced()
	p.behind(t0)
	t1 := t0.Add(paceHold + time.Second)
	in := 0
	for now := t1; now.Before(t1.Add(time.Second)); now = now.Add(time.Millisecond) {
		for p.open(now, 1, limit) {
			in++
		}
	}
	want := p.pace*limit.Seconds() + p.pace // the burst, then a second at the pace
	if lo, hi := int(want*0.95), int(want*1.05)+1; in < lo || in > hi {
		t.Fatalf("the open gate let in %d events in the second after the hold (pace %v), want %d-%d", in, p.pace, lo, hi)
	}
	if !p.open(t0.Add(surgeMemory+time.Millisecond), 1000, limit) {
		t.Fatal("the open gate still paces after surgeMemory")
	}
}

// A node that was behind lately and then lets in far more events than it delivers (the refused
// publishers' backlog, going in at once when the gate opened) counts as behind again, so that
// the triggers go through the pace; a node that was never behind, or not for surgeMemory, lets
// any burst straight in.
func TestSurgeAfterBehindBringsThePaceBack(t *testing.T) {
	load := &fakeLoad{}
	t0 := time.Now().Truncate(time.Second)
	sampleAfter := func(p *pacer, at time.Time, in, out int64) {
		p.taken.Add(in)
		load.events.Add(out)
		load.fanned.Add(out * 1000)
		load.written.Add(out * 1000)
		p.sample(at, load, 1)
	}

	never := newPacer()
	never.sample(t0, load, 1)
	sampleAfter(never, t0.Add(paceSample), 1000, 10) // a burst the node was never behind for
	if never.recovering(t0.Add(paceSample)) {
		t.Fatal("a burst on a node that was never behind is paced")
	}

	p := newPacer()
	p.sample(t0, load, 1)
	p.behind(t0)
	t1 := t0.Add(paceHold + time.Second) // caught up, the hold over
	if p.recovering(t1) {
		t.Fatal("still recovering after paceHold")
	}
	p.sample(t1.Add(-paceSample), load, 1)
	sampleAfter(p, t1, 30, 30) // as much in as out: no surge
	if p.recovering(t1) {
		t.Fatal("an intake the node kept up with counts as a surge")
	}
	t2 := t1.Add(paceSample)
	sampleAfter(p, t2, 100, 30) // the backlog: 500 events/s in, 150 delivered
	if !p.recovering(t2) {
		t.Fatal("a surge of 3x what the node delivered, 3 s after it was behind, is not paced")
	}

	late := newPacer()
	late.sample(t0, load, 1)
	late.behind(t0)
	t3 := t0.Add(surgeMemory + time.Second)
	late.sample(t3.Add(-paceSample), load, 1)
	sampleAfter(late, t3, 100, 30)
	if late.recovering(t3) {
		t.Fatal("a surge long after the node was behind is paced")
	}
}
