package webhooks

import (
	"container/heap"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/protocol"
)

// target is one app id + URL: its queue, its POSTs in flight, its retry backlog. Emit appends
// to the queue (and opens the batch window) under mu; everything else happens in the target's
// loop goroutine, also under mu, so that Stats sees each change whole: a failure counted has
// its retry timer set.
type target struct {
	d   *Delivery
	app *appTargets
	url string
	log *slog.Logger

	wake    chan struct{} // capacity 1: Emit or Flush has something for the loop
	results chan result   // capacity 2: one fresh POST and one retry at most
	// The alarms exist for the target's whole life, stopped when unused, so that the loop
	// selects on fixed channels while Emit re-arms the window.
	window, retry alarm

	mu            sync.Mutex
	closed        bool
	queue         []queued // queue[head:] waits for a fresh batch, oldest first
	head          int
	scratch       []*protocol.WebhookEvent // the events of the batch being encoded
	fresh         *batch                   // the fresh POST in flight
	retrying      *batch                   // the retry POST in flight
	backlog       backlog                  // failed batches waiting for their retry
	undelivered   int                      // queued + in a POST + backlog
	backlogEvents int                      // events of failed batches: backlog + retrying
	seq           uint64
	flushSeen     bool
	stats         Stats // Queued and RetryBacklog unused: undelivered, backlogEvents

	failing      bool // the last POST failed
	failingSince time.Time
	warned       bool // a failure line was logged since the target last answered
	failLog      logLimiter
	dropLog      logLimiter
	giveUpLog    logLimiter
}

// queued is one event waiting for a batch, with when it was emitted.
type queued struct {
	ev *protocol.WebhookEvent
	at time.Time
}

// batch is one POST body, sent again unchanged on every retry so that a receiver can tell a
// repeat by its time_ms and content.
type batch struct {
	seq      uint64
	events   int
	types    string // its events' types, for the debug console
	body     []byte
	oldest   time.Time // when its first event was emitted
	first    time.Time // its first attempt
	attempts int
	failed   bool      // counted in the retry backlog
	due      time.Time // its next retry
}

// result is the outcome of one POST: err nil for a 2xx.
type result struct {
	b      *batch
	status int // 0: no response
	err    error
}

func newTarget(d *Delivery, a *appTargets, rawURL string) *target {
	t := &target{
		d: d, app: a, url: rawURL,
		log:     d.log.With("app", a.id, "url", redact(rawURL)),
		wake:    make(chan struct{}, 1),
		results: make(chan result, 2),
		window:  newAlarm(d.clock),
		retry:   newAlarm(d.clock),
	}
	return t
}

func (t *target) queueLen() int { return len(t.queue) - t.head }

// poke wakes the loop without blocking; one pending wake-up is as good as many.
func (t *target) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// add queues ev, emitted at now: Emit's part, which must stay cheap.
func (t *target) add(ev *protocol.WebhookEvent, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if t.undelivered >= t.d.cfg.QueueLimit {
		t.stats.Dropped++
		t.app.metrics.AddWebhookEventsDropped(1)
		if n, ok := t.dropLog.note(now, 1); ok {
			t.log.Warn("webhook queue full, dropping events", "dropped", n, "queue_limit", t.d.cfg.QueueLimit)
		}
		return
	}
	t.queue = append(t.queue, queued{ev, now})
	t.undelivered++
	t.d.changePending(1)
	t.app.metrics.AddWebhookEventsQueued(1)
	if t.fresh != nil {
		return // the loop takes the queue on when that POST ends
	}
	switch n := t.queueLen(); {
	case t.d.flushing.Load() || n >= t.d.cfg.BatchMaxEvents:
		t.poke()
	case n == 1:
		t.window.arm(now, now.Add(t.d.cfg.BatchWindow))
	}
}

// loop runs the target until Close: timers, POST outcomes and wake-ups, each followed by a
// step that starts what is due.
func (t *target) loop() {
	defer t.d.wg.Done()
	for {
		select {
		case <-t.d.stop:
			t.shutdown()
			return
		case <-t.wake:
			t.mu.Lock()
		case <-t.window.timer.Chan():
			t.mu.Lock()
			t.window.fired()
		case <-t.retry.timer.Chan():
			t.mu.Lock()
			t.retry.fired()
		case r := <-t.results:
			t.mu.Lock()
			t.finish(r)
		}
		t.step()
		t.mu.Unlock()
		if h := t.d.afterStep; h != nil {
			h()
		}
	}
}

// step starts the POSTs that are due and arms the timers of those that are not. mu is held.
func (t *target) step() {
	if t.d.closed.Load() {
		return // Close is under way: shutdown takes what is left
	}
	now := t.d.clock.Now()
	flushing := t.d.flushing.Load()
	if flushing && !t.flushSeen {
		t.flushSeen = true
		t.backlogDueAt(now)
	}

	switch {
	case t.fresh != nil || t.queueLen() == 0:
		t.window.stop()
	default:
		deadline := t.queue[t.head].at.Add(t.d.cfg.BatchWindow)
		if flushing || t.queueLen() >= t.d.cfg.BatchMaxEvents || !now.Before(deadline) {
			t.window.stop()
			t.startFresh(now)
		} else {
			t.window.arm(now, deadline)
		}
	}

	switch {
	case t.retrying != nil || len(t.backlog) == 0:
		t.retry.stop()
	case !now.Before(t.backlog[0].due):
		t.retry.stop()
		b := heap.Pop(&t.backlog).(*batch)
		b.attempts++
		t.retrying = b
		t.stats.Retried++
		t.app.metrics.AddWebhookPostRetried()
		t.startPost(b)
	default:
		t.retry.arm(now, t.backlog[0].due)
	}
}

// startFresh takes a batch from the head of the queue and posts it.
func (t *target) startFresh(now time.Time) {
	n := min(t.queueLen(), t.d.cfg.BatchMaxEvents)
	events := t.queue[t.head : t.head+n]
	t.scratch = t.scratch[:0]
	for _, q := range events {
		t.scratch = append(t.scratch, q.ev)
	}
	t.seq++
	b := &batch{
		seq: t.seq, events: n, oldest: events[0].at, first: now, attempts: 1,
		body: protocol.WebhookBody(now.UnixMilli(), t.scratch), types: eventTypes(t.scratch),
	}
	clear(t.scratch)
	clear(events) // the body holds them now
	t.head += n
	if t.head == len(t.queue) {
		t.queue, t.head = t.queue[:0], 0
	} else if t.head > cap(t.queue)/2 {
		t.queue = t.queue[:copy(t.queue, t.queue[t.head:])]
		t.head = 0
	}
	t.fresh = b
	t.startPost(b)
}

// startPost runs one POST of b in a goroutine of its own; its outcome comes back on results.
func (t *target) startPost(b *batch) {
	t.d.wg.Add(1)
	go func() {
		defer t.d.wg.Done()
		status, err := t.d.post(t.app.app.Load(), t.url, b.body, b.events)
		t.recordPost(b, status, err)
		t.results <- result{b: b, status: status, err: err}
	}()
}

// finish takes in the outcome of a POST. mu is held.
func (t *target) finish(r result) {
	b := r.b
	if b == t.fresh {
		t.fresh = nil
	} else {
		t.retrying = nil
	}
	if r.err != nil && t.d.closed.Load() {
		// Ended by Close, not by the receiver: dropped, not a failure.
		t.dropUnsent(b.events)
		t.settle(b)
		return
	}
	now := t.d.clock.Now()
	t.log.Debug("webhook POST attempt", "events", b.events, "attempt", b.attempts, "status", r.status, "error", r.err)
	if r.err == nil {
		t.stats.Sent += int64(b.events)
		t.stats.Posts++
		t.app.metrics.AddWebhookEventsSent(b.events)
		t.settle(b)
		if t.failing {
			t.recovered(now)
		}
		return
	}

	t.stats.Failed++
	t.app.metrics.AddWebhookPostFailed()
	if !t.failing {
		t.failing, t.failingSince = true, now
	}
	if n, ok := t.failLog.note(now, 1); ok {
		t.warned = true
		attrs := []any{"failures", n}
		if r.status != 0 {
			attrs = append(attrs, "status", r.status)
		} else {
			attrs = append(attrs, "error", r.err.Error())
		}
		t.log.Warn("webhook POST failed", attrs...)
	}
	if !b.failed {
		b.failed = true
		t.backlogEvents += b.events
		t.app.metrics.AddWebhookRetryBacklog(b.events)
	}
	elapsed := now.Sub(b.first)
	if elapsed >= t.d.cfg.RetryFor {
		t.stats.Dropped += int64(b.events)
		t.app.metrics.AddWebhookEventsDropped(b.events)
		t.settle(b)
		if n, ok := t.giveUpLog.note(now, b.events); ok {
			t.log.Warn("webhook batches given up after retrying", "events", n, "retry_for", t.d.cfg.RetryFor,
				"attempts", b.attempts) // of the batch given up now
		}
		return
	}
	// The last retry happens when retry_for ends, not a whole back-off after it.
	wait := backoff(t.d.cfg.InitialBackoff, t.d.cfg.MaxBackoff, b.attempts, rand.Int64N)
	b.due = now.Add(min(wait, t.d.cfg.RetryFor-elapsed))
	heap.Push(&t.backlog, b)
}

// settle takes a delivered or dropped batch out of the counts of what waits. mu is held.
func (t *target) settle(b *batch) {
	t.undelivered -= b.events
	t.d.changePending(-b.events)
	t.app.metrics.AddWebhookEventsQueued(-b.events)
	if b.failed {
		t.backlogEvents -= b.events
		t.app.metrics.AddWebhookRetryBacklog(-b.events)
	}
}

// recovered is the first success after failures: the backlog is due now, and if the failures
// were logged, one line says the target answers again. mu is held.
func (t *target) recovered(now time.Time) {
	t.failing = false
	t.backlogDueAt(now)
	if t.warned {
		t.warned = false
		n := t.failLog.count
		t.failLog.count = 0
		t.log.Info("webhook target answers again", "failures_since_last_line", n,
			"failing_for", now.Sub(t.failingSince), "retry_backlog", t.backlogEvents)
	}
}

// backlogDueAt makes every batch of the backlog due at now, oldest first. mu is held.
func (t *target) backlogDueAt(now time.Time) {
	for _, b := range t.backlog {
		b.due = now
	}
	heap.Init(&t.backlog)
}

// alarm is a timer that knows when it fires, so that arming it again for the same time is
// free. Its zero at means not armed. The target's mu guards it.
type alarm struct {
	timer clockwork.Timer
	at    time.Time
}

func newAlarm(clock clockwork.Clock) alarm {
	t := clock.NewTimer(time.Hour)
	t.Stop()
	return alarm{timer: t}
}

// arm makes the alarm fire at at (now is the clock's time).
func (a *alarm) arm(now, at time.Time) {
	if a.at.Equal(at) {
		return
	}
	a.timer.Stop()
	a.timer.Reset(at.Sub(now))
	a.at = at
}

func (a *alarm) stop() {
	if !a.at.IsZero() {
		a.timer.Stop()
		a.at = time.Time{}
	}
}

// fired records that the alarm went off.
func (a *alarm) fired() { a.at = time.Time{} }

// oldest is when the target's oldest undelivered event was emitted.
func (t *target) oldest() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var at time.Time
	consider := func(c time.Time) {
		if at.IsZero() || c.Before(at) {
			at = c
		}
	}
	if t.queueLen() > 0 {
		consider(t.queue[t.head].at)
	}
	for _, b := range []*batch{t.fresh, t.retrying} {
		if b != nil {
			consider(b.oldest)
		}
	}
	for _, b := range t.backlog {
		consider(b.oldest)
	}
	return at, !at.IsZero()
}

// shutdown ends the target for Close: POSTs in flight are already cancelled; their outcome is
// awaited, and whatever is not delivered is dropped.
func (t *target) shutdown() {
	t.mu.Lock()
	t.closed = true
	t.window.stop()
	t.retry.stop()
	inFlight := 0
	for _, b := range []*batch{t.fresh, t.retrying} {
		if b != nil {
			inFlight++
		}
	}
	t.mu.Unlock()
	for range inFlight {
		r := <-t.results
		t.mu.Lock()
		if r.b == t.fresh {
			t.fresh = nil
		} else {
			t.retrying = nil
		}
		if r.err == nil {
			t.stats.Sent += int64(r.b.events)
			t.stats.Posts++
			t.app.metrics.AddWebhookEventsSent(r.b.events)
		} else {
			t.dropUnsent(r.b.events)
		}
		t.settle(r.b)
		t.mu.Unlock()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range t.backlog {
		t.dropUnsent(b.events)
		t.settle(b)
	}
	t.backlog = nil
	if n := t.queueLen(); n > 0 {
		t.dropUnsent(n)
		t.undelivered -= n
		t.d.changePending(-n)
		t.app.metrics.AddWebhookEventsQueued(-n)
	}
	t.queue, t.head = nil, 0
}

// dropUnsent counts n events dropped because the delivery stopped. mu is held.
func (t *target) dropUnsent(n int) {
	t.stats.Dropped += int64(n)
	t.app.metrics.AddWebhookEventsDropped(n)
	t.d.unsent.Add(int64(n))
}

// backoff is the wait after a batch's failures-th failure: initial doubled per earlier failure,
// capped at maxWait, less up to 20 % (jitter(n) is in [0, n)) so that many servers' retries
// spread out.
func backoff(initial, maxWait time.Duration, failures int, jitter func(int64) int64) time.Duration {
	wait := initial
	for i := 1; i < failures && wait < maxWait; i++ {
		wait *= 2
	}
	wait = min(wait, maxWait)
	return wait - time.Duration(jitter(int64(wait)/5+1))
}

// logLimiter lets one line through per logInterval, counting what happened in between.
type logLimiter struct {
	last  time.Time
	count int
}

// note counts n occurrences at now and tells whether to log a line, with the count since the
// previous line.
func (l *logLimiter) note(now time.Time, n int) (int, bool) {
	l.count += n
	if !l.last.IsZero() && now.Sub(l.last) < logInterval {
		return 0, false
	}
	count := l.count
	l.count, l.last = 0, now
	return count, true
}

// backlog is a heap of failed batches by when they are due, the older batch first on a tie.
type backlog []*batch

func (h backlog) Len() int { return len(h) }
func (h backlog) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h backlog) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *backlog) Push(x any)   { *h = append(*h, x.(*batch)) }
func (h *backlog) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return b
}
