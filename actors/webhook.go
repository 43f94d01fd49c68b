package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// The webhook event types of Pusher, the names a target lists in its EventTypes.
const (
	WebhookChannelOccupied   = "channel_occupied"
	WebhookChannelVacated    = "channel_vacated"
	WebhookMemberAdded       = "member_added"
	WebhookMemberRemoved     = "member_removed"
	WebhookClientEvent       = "client_event"
	WebhookCacheMiss         = "cache_miss"
	WebhookSubscriptionCount = "subscription_count"
)

// WebhookEvent is one event of a webhook body. Name is one of the Webhook* types; the other
// fields are set as that type's shape in the Pusher docs has them:
//
//	{"name":"channel_occupied","channel":"x"}                     (channel_vacated, cache_miss alike)
//	{"name":"member_added","channel":"presence-x","user_id":"1"}  (member_removed alike)
//	{"name":"client_event","channel":"private-x","event":"client-e","data":"...","socket_id":"1.2","user_id":"1"}
//	{"name":"subscription_count","channel":"x","subscription_count":3}
//
// An event is shared by every target that gets it: it must not change once sent.
type WebhookEvent struct {
	Name              string `json:"name"`
	Channel           string `json:"channel"`
	Event             string `json:"event,omitempty"`
	Data              string `json:"data,omitempty"`
	SocketID          string `json:"socket_id,omitempty"`
	UserID            string `json:"user_id,omitempty"`
	SubscriptionCount *int64 `json:"subscription_count,omitempty"`
}

// MarshalJSON encodes the event as the tags say, except that a client_event always carries its
// data, even an empty string: receivers read it without checking that it is there.
func (e *WebhookEvent) MarshalJSON() ([]byte, error) { return e.appendJSON(nil), nil }

func (e *WebhookEvent) appendJSON(dst []byte) []byte {
	dst = protocol.AppendJSONString(append(dst, `{"name":`...), e.Name)
	dst = protocol.AppendJSONString(append(dst, `,"channel":`...), e.Channel)
	if e.Event != "" {
		dst = protocol.AppendJSONString(append(dst, `,"event":`...), e.Event)
	}
	if e.Data != "" || e.Name == WebhookClientEvent {
		dst = protocol.AppendJSONString(append(dst, `,"data":`...), e.Data)
	}
	if e.SocketID != "" {
		dst = protocol.AppendJSONString(append(dst, `,"socket_id":`...), e.SocketID)
	}
	if e.UserID != "" {
		dst = protocol.AppendJSONString(append(dst, `,"user_id":`...), e.UserID)
	}
	if e.SubscriptionCount != nil {
		dst = strconv.AppendInt(append(dst, `,"subscription_count":`...), *e.SubscriptionCount, 10)
	}
	return append(dst, '}')
}

// WebhookOptions configure the webhook dispatchers. A zero field takes its default.
type WebhookOptions struct {
	// BatchWindow: events a target gets within this time of the first one go in one POST.
	// Default 50ms.
	BatchWindow time.Duration
	// BatchMaxEvents caps the events of one POST; more wait for the next. Default 100.
	BatchMaxEvents int
	// Timeout bounds one POST, response included. Default 5s.
	Timeout time.Duration
	// InitialBackoff is the wait after a batch's first failed POST; it doubles with each further
	// failure up to MaxBackoff, less up to 20% jitter. Defaults 1s and 60s.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// RetryFor is how long after its first attempt a batch is retried before it is dropped.
	// Default 5 minutes.
	RetryFor time.Duration
	// QueueLimit is how many events may wait per target (queued, or in a batch not yet
	// delivered); events beyond it are dropped. Default 10,000.
	QueueLimit int
	// HTTPClient sends the POSTs. Default: http.DefaultTransport, redirects not followed (a 3xx
	// is a failure, as Pusher treats it).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock of time_ms and of RetryFor. Default time.Now.
	Now func() time.Time
	// Telemetry traces each POST (a client span sending traceparent). Nil: no tracing.
	Telemetry *telemetry.Telemetry
}

func (o WebhookOptions) withDefaults() WebhookOptions {
	setDuration := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	setDuration(&o.BatchWindow, 50*time.Millisecond)
	setDuration(&o.Timeout, 5*time.Second)
	setDuration(&o.InitialBackoff, time.Second)
	setDuration(&o.MaxBackoff, time.Minute)
	setDuration(&o.RetryFor, 5*time.Minute)
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	if o.BatchMaxEvents <= 0 {
		o.BatchMaxEvents = 100
	}
	if o.QueueLimit <= 0 {
		o.QueueLimit = 10_000
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// WebhookStats are a dispatcher's counters, summed over its targets. An event sent to two
// targets counts twice.
type WebhookStats struct {
	Sent    int64 // events delivered (a 2xx answered their POST)
	Posts   int64 // POSTs answered with a 2xx
	Failed  int64 // POST attempts that failed: non-2xx, timeout, network error
	Retried int64 // POST attempts that repeated a failed one
	Dropped int64 // events given up: queue full, RetryFor passed, or the dispatcher stopped
	Queued  int64 // events waiting now, in a batch or behind one
}

// dropLogInterval rate-limits the log of events dropped because a queue is full.
const dropLogInterval = 10 * time.Second

// webhookDispatcher is the actor that sends one app's webhooks. Each target has its own queue
// and at most one POST in flight, so targets never wait for each other and each target gets its
// events in order. The actor never waits on the network: POSTs run in goroutines and report
// back as messages, and waits (batch window, back-off) are timers that send it a message.
type webhookDispatcher struct {
	app     *App
	opts    WebhookOptions
	log     *slog.Logger
	targets []*webhookTarget
	wanted  map[string]bool // event types some target gets; nil: all

	root *actor.RootContext
	self *actor.PID
	// postCtx ends the POSTs in flight when the actor stops.
	postCtx    context.Context
	cancelPost context.CancelFunc
	stopped    atomic.Bool

	flushing bool         // shutting down: post at once, no batch window
	waiters  []chan error // flush calls waiting for every queue to empty

	sent, okPosts, failed, retried, dropped, queued atomic.Int64
}

type webhookTarget struct {
	url   string
	log   *slog.Logger
	types map[string]bool // nil: all types

	queue   []*WebhookEvent // not yet in a batch, oldest first
	batch   *webhookBatch   // being posted or waiting for its retry
	posting bool
	// timer is the open batch window (batch == nil) or the back-off before a retry. seq tells a
	// stale tick from the current one.
	timer *time.Timer
	seq   uint64

	droppedSinceLog int
	lastDropLog     time.Time
}

// webhookBatch is one POST body, sent again unchanged on every retry so a receiver can tell a
// repeat by its time_ms and content.
type webhookBatch struct {
	events   int
	body     []byte
	first    time.Time // first attempt
	attempts int
}

func (t *webhookTarget) waiting() int {
	n := len(t.queue)
	if t.batch != nil {
		n += t.batch.events
	}
	return n
}

func (t *webhookTarget) gets(name string) bool { return t.types == nil || t.types[name] }

// Messages the dispatcher sends itself.
type (
	// webhookTick: a target's batch window closed or its back-off ended.
	webhookTick struct {
		target int
		seq    uint64
	}
	// webhookPosted: a target's POST ended; err nil means a 2xx.
	webhookPosted struct {
		target int
		err    error
	}
	// webhookFlush asks for every queue to be sent; done gets nil once they are all empty, or
	// an error if the dispatcher stops first.
	webhookFlush struct{ done chan error }
)

// newWebhookDispatcher makes the dispatcher actor of app's webhook targets.
func newWebhookDispatcher(app *App, opts WebhookOptions) *webhookDispatcher {
	opts = opts.withDefaults()
	d := &webhookDispatcher{
		app:  app,
		opts: opts,
		log:  opts.Logger.With("component", "webhooks", "app", app.ID),
	}
	d.postCtx, d.cancelPost = context.WithCancel(context.Background())
	allTypes := false
	wanted := map[string]bool{}
	for _, w := range app.Webhooks {
		t := &webhookTarget{url: w.URL, log: d.log.With("url", redactURL(w.URL))}
		if len(w.EventTypes) == 0 {
			allTypes = true
		} else {
			t.types = map[string]bool{}
			for _, name := range w.EventTypes {
				t.types[name] = true
				wanted[name] = true
			}
		}
		d.targets = append(d.targets, t)
	}
	if allTypes {
		wanted = nil
	}
	d.wanted = wanted
	return d
}

// redactURL hides a password in a target's URL from the logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return u.Redacted()
}

// wants tells whether some target gets events of this type, so a caller can skip building
// events nobody gets. It is safe from any goroutine.
func (d *webhookDispatcher) wants(name string) bool {
	return len(d.targets) > 0 && (d.wanted == nil || d.wanted[name])
}

// Stats returns the dispatcher's counters. It is safe from any goroutine.
func (d *webhookDispatcher) Stats() WebhookStats {
	return WebhookStats{
		Sent: d.sent.Load(), Posts: d.okPosts.Load(), Failed: d.failed.Load(),
		Retried: d.retried.Load(), Dropped: d.dropped.Load(), Queued: d.queued.Load(),
	}
}

func (d *webhookDispatcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		d.root, d.self = ctx.ActorSystem().Root, ctx.Self()
	case *WebhookEvent:
		d.enqueue(m)
	case webhookTick:
		d.tick(m)
	case webhookPosted:
		d.onPosted(m)
	case *webhookFlush:
		d.flush(m)
	case *actor.Stopping:
		d.stop()
	}
}

func (d *webhookDispatcher) enqueue(ev *WebhookEvent) {
	for i, t := range d.targets {
		if !t.gets(ev.Name) {
			continue
		}
		if t.waiting() >= d.opts.QueueLimit {
			d.addDropped(1)
			d.logQueueFull(t)
			continue
		}
		t.queue = append(t.queue, ev)
		d.addQueued(1)
		if t.posting || t.timer != nil {
			continue // the running POST or the pending tick takes it on
		}
		if d.flushing {
			d.post(i)
		} else {
			d.arm(i, d.opts.BatchWindow)
		}
	}
}

// logQueueFull logs a full queue at most once per dropLogInterval per target, with the count
// of events dropped since the last line.
func (d *webhookDispatcher) logQueueFull(t *webhookTarget) {
	t.droppedSinceLog++
	now := d.opts.Now()
	if !t.lastDropLog.IsZero() && now.Sub(t.lastDropLog) < dropLogInterval {
		return
	}
	t.log.Warn("webhook queue full, dropping events", "dropped", t.droppedSinceLog, "queue_limit", d.opts.QueueLimit)
	t.droppedSinceLog, t.lastDropLog = 0, now
}

// arm starts target i's timer; when it fires, the target posts its batch.
func (d *webhookDispatcher) arm(i int, wait time.Duration) {
	t := d.targets[i]
	t.seq++
	tick, root, self := webhookTick{target: i, seq: t.seq}, d.root, d.self
	t.timer = time.AfterFunc(wait, func() {
		if !d.stopped.Load() {
			root.Send(self, tick)
		}
	})
}

func (d *webhookDispatcher) tick(m webhookTick) {
	t := d.targets[m.target]
	if t.timer == nil || m.seq != t.seq {
		return // stopped by flush, which posted already
	}
	t.timer = nil
	d.post(m.target)
}

// post starts target i's POST: its batch's retry, or a new batch from the head of its queue.
func (d *webhookDispatcher) post(i int) {
	t := d.targets[i]
	if t.batch == nil {
		if len(t.queue) == 0 {
			return
		}
		n := min(len(t.queue), d.opts.BatchMaxEvents)
		t.batch = &webhookBatch{events: n, body: d.encode(t.queue[:n]), first: d.opts.Now()}
		clear(t.queue[:n]) // the body holds them now
		t.queue = t.queue[n:]
		if len(t.queue) == 0 {
			t.queue = nil
		}
	} else {
		d.addRetried()
	}
	t.batch.attempts++
	t.posting = true
	go d.send(d.root, d.self, i, t.url, t.batch.body, t.batch.events)
}

func (d *webhookDispatcher) encode(events []*WebhookEvent) []byte {
	body := strconv.AppendInt([]byte(`{"time_ms":`), d.opts.Now().UnixMilli(), 10)
	body = append(body, `,"events":[`...)
	for i, ev := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = ev.appendJSON(body)
	}
	return append(body, "]}"...)
}

// send runs in its own goroutine: one POST, its outcome reported to the actor.
func (d *webhookDispatcher) send(root *actor.RootContext, self *actor.PID, i int, target string, body []byte, events int) {
	err := d.do(target, body, events)
	if !d.stopped.Load() {
		root.Send(self, webhookPosted{target: i, err: err})
	}
}

func (d *webhookDispatcher) do(target string, body []byte, events int) (err error) {
	ctx, cancel := context.WithTimeout(d.postCtx, d.opts.Timeout)
	defer cancel()
	ctx, span := d.opts.Telemetry.StartWebhookSpan(ctx, d.app.ID, target, events)
	status := 0
	defer func() { telemetry.EndWebhookSpan(span, status, err) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	telemetry.InjectHTTP(ctx, req)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", d.app.Key)
	req.Header.Set("X-Pusher-Signature", protocol.Sign(d.app.Secret, string(body)))
	res, err := d.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	status = res.StatusCode
	// Read a little of the answer so the connection can be reused; a receiver has no reason
	// to say much.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("webhook post: status %d", res.StatusCode)
	}
	return nil
}

func (d *webhookDispatcher) onPosted(m webhookPosted) {
	t := d.targets[m.target]
	t.posting = false
	b := t.batch
	if b == nil {
		return
	}
	if m.err == nil {
		d.addSent(int64(b.events))
		d.okPosts.Add(1)
		d.addQueued(-int64(b.events))
		t.batch = nil
		d.next(m.target)
		return
	}
	d.addFailed()
	elapsed := d.opts.Now().Sub(b.first)
	if elapsed >= d.opts.RetryFor {
		t.log.Warn("webhook batch dropped after retrying", "events", b.events,
			"attempts", b.attempts, "for", elapsed.Round(time.Millisecond), "error", m.err)
		d.addDropped(int64(b.events))
		d.addQueued(-int64(b.events))
		t.batch = nil
		d.next(m.target)
		return
	}
	t.log.Debug("webhook post failed, will retry", "attempt", b.attempts, "error", m.err)
	// The last retry happens when RetryFor ends, not a whole back-off after it.
	d.arm(m.target, min(d.backoff(b.attempts), d.opts.RetryFor-elapsed))
}

// next starts target i's next batch right away: its events waited already, behind the last one.
func (d *webhookDispatcher) next(i int) {
	if len(d.targets[i].queue) > 0 {
		d.post(i)
		return
	}
	d.checkFlushed()
}

// backoff is the wait after the attempts-th failure: InitialBackoff doubled per earlier
// failure, capped at MaxBackoff, less up to 20% so that many servers' retries spread out.
func (d *webhookDispatcher) backoff(attempts int) time.Duration {
	wait := d.opts.InitialBackoff
	for i := 1; i < attempts && wait < d.opts.MaxBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, d.opts.MaxBackoff)
	return wait - time.Duration(rand.Int64N(int64(wait)/5+1))
}

func (d *webhookDispatcher) flush(m *webhookFlush) {
	d.flushing = true
	d.waiters = append(d.waiters, m.done)
	for i, t := range d.targets {
		if t.timer != nil && t.batch == nil { // an open batch window: close it now
			t.timer.Stop()
			t.timer = nil
			d.post(i)
		}
	}
	d.checkFlushed()
}

func (d *webhookDispatcher) checkFlushed() {
	if len(d.waiters) == 0 {
		return
	}
	for _, t := range d.targets {
		if t.waiting() > 0 {
			return
		}
	}
	for _, w := range d.waiters {
		w <- nil
	}
	d.waiters = nil
}

func (d *webhookDispatcher) stop() {
	d.stopped.Store(true)
	d.cancelPost()
	lost := 0
	for _, t := range d.targets {
		if t.timer != nil {
			t.timer.Stop()
			t.timer = nil
		}
		lost += t.waiting()
		t.queue, t.batch = nil, nil
	}
	if lost > 0 {
		d.addDropped(int64(lost))
		d.addQueued(-int64(lost))
		d.log.Warn("webhook dispatcher stopped with events unsent", "dropped", lost)
	}
	for _, w := range d.waiters {
		w <- fmt.Errorf("%w: %d webhook events unsent", ErrShuttingDown, lost)
	}
	d.waiters = nil
}

// webhookSender is what can send the dispatcher an event: an actor.Context or the root context.
type webhookSender interface {
	Send(pid *actor.PID, message any)
}

// webhooks is the Engine's handle on one app's running dispatcher. A nil *webhooks is an app
// without webhook targets: every method is then a no-op.
type webhooks struct {
	root       *actor.RootContext
	pid        *actor.PID
	dispatcher *webhookDispatcher
	stopOnce   sync.Once
}

// spawnWebhooks starts app's dispatcher, or returns nil when app has no webhook targets.
func spawnWebhooks(root *actor.RootContext, app *App, opts WebhookOptions) *webhooks {
	if len(app.Webhooks) == 0 {
		return nil
	}
	d := newWebhookDispatcher(app, opts)
	pid := root.Spawn(actor.PropsFromProducer(func() actor.Actor { return d }))
	return &webhooks{root: root, pid: pid, dispatcher: d}
}

// wants tells whether some target gets events of this type; check it before building an event.
func (w *webhooks) wants(name string) bool { return w != nil && w.dispatcher.wants(name) }

// emit hands ev to the dispatcher, if some target gets its type. It never blocks.
func (w *webhooks) emit(from webhookSender, ev *WebhookEvent) {
	if w.wants(ev.Name) {
		from.Send(w.pid, ev)
	}
}

// Stats returns the dispatcher's counters.
func (w *webhooks) Stats() WebhookStats {
	if w == nil {
		return WebhookStats{}
	}
	return w.dispatcher.Stats()
}

// flush sends what is queued at once, without batch windows, and waits until every queue is
// empty or ctx ends. Events that arrive meanwhile are sent too; a batch waiting for its retry
// keeps its back-off. Call stop after it: a flush sent to a stopped dispatcher waits for ctx.
func (w *webhooks) flush(ctx context.Context) error {
	if w == nil {
		return nil
	}
	done := make(chan error, 1)
	w.root.Send(w.pid, &webhookFlush{done: done})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("webhooks of app %s not flushed: %w", w.dispatcher.app.ID, ctx.Err())
	}
}

// stop stops the dispatcher once it has taken in the messages already sent to it: POSTs in
// flight are abandoned and what is queued is dropped. It returns when the actor has stopped.
func (w *webhooks) stop() {
	if w == nil {
		return
	}
	w.stopOnce.Do(func() {
		if err := w.root.PoisonFuture(w.pid).Wait(); err != nil {
			w.dispatcher.log.Warn("webhook dispatcher stop", "error", err)
		}
	})
}

// flushAndStopWebhooks flushes every dispatcher at once, waits until all are done or ctx ends,
// then stops them all: the graceful end of the webhooks of a node. The error joins those of the
// dispatchers that did not finish.
func flushAndStopWebhooks(ctx context.Context, all []*webhooks) error {
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, w := range all {
		wg.Go(func() { errs[i] = w.flush(ctx) })
	}
	wg.Wait()
	for _, w := range all {
		w.stop()
	}
	return errors.Join(errs...)
}

// The dispatcher's counters, kept for Stats and mirrored to the app's metrics.
func (d *webhookDispatcher) addSent(n int64) {
	d.sent.Add(n)
	d.app.Metrics.AddWebhookEventsSent(int(n))
}

func (d *webhookDispatcher) addQueued(n int64) {
	d.queued.Add(n)
	d.app.Metrics.AddWebhookEventsQueued(int(n))
}

func (d *webhookDispatcher) addDropped(n int64) {
	d.dropped.Add(n)
	d.app.Metrics.AddWebhookEventsDropped(int(n))
}

func (d *webhookDispatcher) addFailed() {
	d.failed.Add(1)
	d.app.Metrics.AddWebhookPostFailed()
}

func (d *webhookDispatcher) addRetried() {
	d.retried.Add(1)
	d.app.Metrics.AddWebhookPostRetried()
}
