package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/protocol"
)

// Run runs one scenario against one target and returns what it measured. It stops by itself
// within cfg.Timeout (plus the time to close its sockets), and earlier when ctx ends.
func Run(ctx context.Context, scenario string, t Target, cfg Config) (*Result, error) {
	if err := cfg.validate(scenario); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r := &runner{
		t: t, cfg: cfg, runID: newRunID(),
		res: &Result{Scenario: scenario, Target: t.Name, Started: time.Now().UTC(), Config: cfg, LoadAvg: loadAvg()},
	}
	if busy, ok := busyCores(ctx, busyWindow); ok {
		r.res.BusyAtStart = &busy
	}
	r.api = &pusherclient.API{
		BaseURL: t.HTTP, App: t.App,
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.HTTPWorkers, MaxConnsPerHost: cfg.HTTPWorkers, IdleConnTimeout: 30 * time.Second,
		}},
	}
	defer r.api.HTTP.CloseIdleConnections()
	var err error
	switch scenario {
	case "connect":
		err = r.connect(ctx)
	case "fanout":
		err = r.broadcast(ctx, 1, cfg.Subscribers, 0)
	case "channels":
		err = r.broadcast(ctx, cfg.Channels, cfg.Subscribers, cfg.Batch)
	case "presence":
		err = r.presence(ctx)
	case "rooms":
		err = r.rooms(ctx)
	case "client-events":
		err = r.clientEvents(ctx)
	}
	if err == nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = ctx.Err()
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.res.note("stopped at the %v timeout: figures are partial", cfg.Timeout)
	}
	return r.res, err
}

type runner struct {
	t     Target
	cfg   Config
	res   *Result
	api   *pusherclient.API
	runID string // makes channel names unique to this run

	closeCodes sync.Map // int -> *atomic.Int64
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// loadAvg is the machine's 1-minute load average, 0 if unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// selfCPU is this process's CPU seconds: the load generator's own cost, to show when it, not
// the server, is the bottleneck.
func selfCPU() float64 {
	s, err := ReadProc(os.Getpid())
	if err != nil {
		return 0
	}
	return s.CPUSeconds
}

// sample reads the server's /proc figures (summed over its processes), or returns nil when the
// target has no PID.
func (r *runner) sample() *ProcSample {
	if len(r.t.PIDs) == 0 {
		return nil
	}
	s, err := ReadProcs(r.t.PIDs)
	if err != nil {
		r.res.note("%v", err)
		return nil
	}
	return &s
}

// dialResult is one socket of dialAll.
type dialResult struct {
	client *pusherclient.Client
	err    error
}

// dialAll opens n sockets, paced at cfg.ConnectRate with cfg.ConnectConcurrency in flight,
// recording connect latency (dial to connection_established) in connectH. opts(i) gives socket
// i's options and then(ctx, i, c), when not nil, runs right after it connects (to subscribe);
// a socket whose then fails is closed. It returns the clients (nil where they failed).
func (r *runner) dialAll(ctx context.Context, n int, connectH *Histogram, opts func(i int) pusherclient.Options,
	then func(ctx context.Context, i int, c *pusherclient.Client) error, progress *atomic.Int64,
) []*pusherclient.Client {
	clients := make([]*pusherclient.Client, n)
	w := newWorkers(r.cfg.ConnectConcurrency)
	pace(ctx, r.cfg.ConnectRate, 0, int64(n), func(i int64) {
		w.Go(ctx, func() {
			dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			start := time.Now()
			c, err := pusherclient.DialOptions(dctx, r.t.wsURL(int(i)), opts(int(i)))
			if err != nil {
				atomic.AddInt64(&r.res.ConnectErrors, 1)
				r.countError(err)
				return
			}
			connectH.Record(time.Since(start))
			atomic.AddInt64(&r.res.Connections, 1)
			if then != nil {
				if err := then(dctx, int(i), c); err != nil {
					r.countError(err)
					_ = c.Close()
					return
				}
			}
			clients[i] = c
			if progress != nil {
				progress.Add(1)
			}
		})
	})
	w.Wait()
	return clients
}

// countError tallies why sockets failed, for the notes.
func (r *runner) countError(err error) {
	key := err.Error()
	var ce *pusherclient.CloseError
	var se *pusherclient.SubscriptionError
	switch {
	case errors.As(err, &ce):
		key = fmt.Sprintf("closed %d", ce.Code)
	case errors.As(err, &se):
		key = "subscription_error " + se.Type
	case errors.Is(err, context.DeadlineExceeded):
		key = "timeout"
	case strings.Contains(key, "connection refused"):
		key = "connection refused"
	case strings.Contains(key, "connection reset"):
		key = "connection reset"
	case len(key) > 80:
		key = key[:80]
	}
	v, _ := r.closeCodes.LoadOrStore(key, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// noteErrors adds the error tally to the result's notes.
func (r *runner) noteErrors() {
	var parts []string
	r.closeCodes.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s x%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(parts)
	if len(parts) > 0 {
		r.res.note("errors: %s", strings.Join(parts, "; "))
	}
}

// closeAll closes the clients, counting those the server had closed first, in parallel since
// each Close waits for the server's close frame.
func (r *runner) closeAll(clients []*pusherclient.Client) {
	work := make(chan *pusherclient.Client)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if err := c.Err(); err != nil {
					atomic.AddInt64(&r.res.Disconnects, 1)
					r.countError(err)
				}
				_ = c.Close()
			}
		}()
	}
	for _, c := range clients {
		if c != nil {
			work <- c
		}
	}
	close(work)
	wg.Wait()
	r.noteErrors()
}

// pace calls fn(i) for i = 0, 1, ... at rate per second (as fast as possible when rate <= 0)
// until n calls (n > 0), d has passed (d > 0: by the schedule or the clock, whichever comes
// first, so a server that cannot keep up gets fewer calls, not a longer run) or ctx ends. A
// late call is made at once, so short stalls do not lower the rate offered.
func pace(ctx context.Context, rate float64, d time.Duration, n int64, fn func(i int64)) int64 {
	start := time.Now()
	var i int64
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ; n <= 0 || i < n; i++ {
		if ctx.Err() != nil || (d > 0 && time.Since(start) >= d) {
			return i
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d > 0 && due.Sub(start) >= d {
				return i
			}
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return i
				}
			}
		}
		fn(i)
	}
	return i
}

// workers runs tasks in goroutines, at most a fixed number at once.
type workers struct {
	slots chan struct{}
	wg    sync.WaitGroup
}

func newWorkers(n int) *workers { return &workers{slots: make(chan struct{}, n)} }

// Go runs fn in a goroutine once a slot is free; false when ctx ends first.
func (w *workers) Go(ctx context.Context, fn func()) bool {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	w.run(fn)
	return true
}

// TryGo runs fn in a goroutine if a slot is free now.
func (w *workers) TryGo(fn func()) bool {
	select {
	case w.slots <- struct{}{}:
	default:
		return false
	}
	w.run(fn)
	return true
}

func (w *workers) run(fn func()) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.slots }()
		fn()
	}()
}

// Wait waits for every task started.
func (w *workers) Wait() { w.wg.Wait() }

// startProgress prints line() about once a second until the returned stop is called.
func (r *runner) startProgress(line func() string) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				r.cfg.Progress(fmt.Sprintf("[%s %s %4.0fs] %s", r.res.Scenario, r.t.Name, time.Since(start).Seconds(), line()))
			}
		}
	}()
	return func() { close(done); <-finished }
}

// receiver is one socket counting the marked events of its channel (or its partner).
type receiver struct {
	event []byte // the event name it counts
	hist  *Histogram

	unique atomic.Int64 // for progress and the drain check

	mu       sync.Mutex
	seqs     seqSet
	lastRecv time.Time
}

// onRaw is the receiver's pusherclient OnRaw: it claims its event's frames.
func (rc *receiver) onRaw(raw []byte, received time.Time) bool {
	ev := frameEvent(raw)
	if string(ev) != string(rc.event) {
		return false
	}
	seq, ts, ok := parseMarker(raw)
	if !ok {
		return true
	}
	rc.mu.Lock()
	isNew := rc.seqs.add(seq)
	rc.lastRecv = received
	rc.mu.Unlock()
	if isNew {
		rc.hist.Record(received.Sub(time.Unix(0, ts)))
		rc.unique.Add(1)
	}
	return true
}

// okSet is the sequence numbers of one sender whose send succeeded.
type okSet struct {
	mu   sync.Mutex
	seqs seqSet
}

func (o *okSet) add(seq uint64) {
	o.mu.Lock()
	o.seqs.add(seq)
	o.mu.Unlock()
}

func (o *okSet) count() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seqs.unique
}

// tally folds receivers into the result: rcv[i] expects what expect[i] sent. It returns the
// last receive time.
func (r *runner) tally(rcv []*receiver, expect []*okSet) time.Time {
	var last time.Time
	for i, rc := range rcv {
		if rc == nil {
			continue
		}
		ok := expect[i]
		ok.mu.Lock()
		rc.mu.Lock()
		offered := ok.seqs.unique
		got := rc.seqs.intersect(&ok.seqs)
		r.res.Offered += offered
		r.res.Delivered += got
		r.res.Unexpected += rc.seqs.unique - got
		r.res.Duplicated += rc.seqs.dups
		r.res.Reordered += rc.seqs.reordered
		if rc.lastRecv.After(last) {
			last = rc.lastRecv
		}
		rc.mu.Unlock()
		ok.mu.Unlock()
	}
	r.res.Lost = r.res.Offered - r.res.Delivered
	return last
}

// drain waits until the receivers have counted want deliveries, or cfg.Drain has passed. When
// deliveries were still arriving as it gave up, it notes that what is counted lost may only be
// late.
func (r *runner) drain(ctx context.Context, rcv []*receiver, want int64) {
	deadline := time.Now().Add(r.cfg.Drain)
	var got, prev int64
	lastGrowth := time.Now()
	for ctx.Err() == nil {
		got = 0
		for _, rc := range rcv {
			if rc != nil {
				got += rc.unique.Load()
			}
		}
		if got >= want {
			return
		}
		if got > prev {
			prev, lastGrowth = got, time.Now()
		}
		if !time.Now().Before(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if time.Since(lastGrowth) < time.Second {
		r.res.note("deliveries were still arriving when the %v drain ended (%d of %d): the missing ones may be late rather than lost; a longer --drain tells", r.cfg.Drain, got, want)
	}
}

// messageCounter is an OnMessage that counts pusher:error frames.
func (r *runner) messageCounter() func(pusherclient.Message) {
	return func(m pusherclient.Message) {
		if m.Event == protocol.EventError {
			atomic.AddInt64(&r.res.PusherErrors, 1)
		}
	}
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// deliveryRun is what a delivery scenario (fanout, channels, client-events) hands to
// finishDeliveries once its send phase is over.
type deliveryRun struct {
	rcv           []*receiver
	expect        []*okSet
	shards        *shardedHistogram
	start         time.Time
	sendPhase     time.Duration
	stopProgress  func()
	clientCPU0    float64
	setup, before *ProcSample
	sent          int64
}

// finishDeliveries waits for the deliveries in flight (bounded by the drain), then fills in
// the delivery figures of the result.
func (r *runner) finishDeliveries(ctx context.Context, d deliveryRun) {
	var want int64
	for i, rc := range d.rcv {
		if rc != nil {
			want += d.expect[i].count()
		}
	}
	r.drain(ctx, d.rcv, want)
	d.stopProgress()
	after := r.sample()
	r.res.ClientCPU = selfCPU() - d.clientCPU0
	end := r.tally(d.rcv, d.expect)
	if sendEnd := d.start.Add(d.sendPhase); end.Before(sendEnd) {
		end = sendEnd
	}
	r.res.Sent = d.sent - r.res.SendErrors
	r.res.Elapsed = end.Sub(d.start).Seconds()
	r.res.DeliveryRate = rate(r.res.Delivered, end.Sub(d.start))
	r.res.OfferedRate = rate(r.res.Offered, d.sendPhase)
	r.res.setHist("delivery", d.shards.merged())
	r.res.Primary = "delivery"
	r.res.finishServer(d.setup, d.before, after)
}
