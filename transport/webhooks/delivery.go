package webhooks

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// logInterval is the least time between two log lines of one kind about one target.
const logInterval = 10 * time.Second

// Deps are what a Delivery uses besides its config. Zero fields: logs discarded, no telemetry,
// the real clock, an HTTP client of its own that follows no redirects. A client given here
// should not follow them either (CheckRedirect returning http.ErrUseLastResponse): a 3xx fails
// a POST only if the delivery sees it.
type Deps struct {
	Logger     *slog.Logger
	Telemetry  *telemetry.Telemetry
	Clock      clockwork.Clock
	HTTPClient *http.Client
	// Console is told about every POST of an app a debug console watches (the node's tap).
	Console Recorder
}

// Stats are the counters of one app's targets, summed. An event sent to two targets counts twice.
type Stats struct {
	Sent         int64 // events delivered (a 2xx answered their POST)
	Posts        int64 // POSTs answered with a 2xx
	Failed       int64 // POST attempts that failed: non-2xx, timeout, network error
	Retried      int64 // POST attempts that repeated a failed batch
	Dropped      int64 // events given up: queue full, retry_for passed, or stopped unsent
	Queued       int64 // events not yet delivered: queued, in a POST, or awaiting a retry
	RetryBacklog int64 // of those, the events in failed batches (awaiting or in a retry)
}

// Delivery sends the webhooks of every app. It implements the actors' node.WebhookSink.
type Delivery struct {
	cfg       configs.WebhookDelivery
	log       *slog.Logger
	tel       *telemetry.Telemetry
	clock     clockwork.Clock
	client    *http.Client
	ownClient bool
	console   Recorder // nil: no console

	postCtx    context.Context // ends the POSTs in flight when Close cancels it
	cancelPost context.CancelFunc
	stop       chan struct{} // closed by Close: every target loop ends

	// index is what Emit looks targets up in, without a lock: replaced whole, under mu, when a
	// target is added (rarely: once per app and URL).
	index  atomic.Pointer[index]
	mu     sync.Mutex
	closed atomic.Bool // set under mu; read without it by Emit
	wg     sync.WaitGroup

	flushing atomic.Bool
	pending  atomic.Int64  // events neither delivered nor dropped, over all targets
	drained  chan struct{} // gets a value when pending falls to 0 (capacity 1)

	closeOnce sync.Once
	unsent    atomic.Int64 // events dropped by Close

	// afterStep, when set (tests), runs after each turn of a target loop.
	afterStep func()
}

// index maps app ids to their entries and app id + URL to targets. It never changes once stored.
type index struct {
	apps    map[string]*appTargets
	targets map[targetKey]*target
}

type targetKey struct{ app, url string }

// appTargets are one app's settings as last emitted and its measurements.
type appTargets struct {
	id      string
	app     atomic.Pointer[configs.App]
	metrics *telemetry.AppMetrics
}

// New makes the delivery of every app's webhooks. cfg is the webhooks: section of a validated
// config (configs.Validate refuses what New would panic on: a duration or count not above 0).
func New(cfg configs.WebhookDelivery, deps Deps) *Delivery {
	for _, c := range []struct {
		key string
		ok  bool
	}{
		{"batch_window", cfg.BatchWindow > 0}, {"batch_max_events", cfg.BatchMaxEvents > 0},
		{"timeout", cfg.Timeout > 0}, {"initial_backoff", cfg.InitialBackoff > 0},
		{"max_backoff", cfg.MaxBackoff > 0}, {"retry_for", cfg.RetryFor > 0}, {"queue_limit", cfg.QueueLimit > 0},
	} {
		if !c.ok {
			panic(fmt.Sprintf("webhooks.New: webhooks.%s must be more than 0 (validate the config first)", c.key))
		}
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.InitialBackoff)
	d := &Delivery{
		cfg:     cfg,
		log:     deps.Logger,
		tel:     deps.Telemetry,
		clock:   deps.Clock,
		client:  deps.HTTPClient,
		console: deps.Console,
		stop:    make(chan struct{}),
		drained: make(chan struct{}, 1),
	}
	d.index.Store(&index{apps: map[string]*appTargets{}, targets: map[targetKey]*target{}})
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("component", "webhooks")
	if d.clock == nil {
		d.clock = clockwork.NewRealClock()
	}
	if d.client == nil {
		// A transport of its own, so that Close can drop its idle connections without touching
		// anyone else's. A 3xx is a failure, as Pusher treats it: never follow it.
		d.client = &http.Client{
			Transport:     http.DefaultTransport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			d.client.Transport = t.Clone()
			d.ownClient = true
		}
	}
	d.postCtx, d.cancelPost = context.WithCancel(context.Background())
	return d
}

// Emit queues ev for every target of app that wants its type. It never blocks: a target whose
// queue is full drops it. Safe from any goroutine; after Close it does nothing. ev is shared by
// the targets and must not change afterwards.
func (d *Delivery) Emit(app *configs.App, ev *protocol.WebhookEvent) {
	if app == nil || ev == nil || !app.WantsWebhook(ev.Name) || d.closed.Load() {
		return
	}
	a := d.appOf(app)
	if a == nil {
		return
	}
	if a.app.Load() != app {
		a.app.Store(app)
	}
	now := d.clock.Now()
	for i, w := range app.Webhooks {
		if !w.Wants(ev.Name) || wantedBefore(app.Webhooks[:i], w.URL, ev.Name) {
			continue
		}
		if t := d.targetOf(a, w.URL); t != nil {
			t.add(ev, now)
		}
	}
}

// wantedBefore tells whether an earlier entry for the same URL took the event already: a URL
// listed twice is one target and gets each event once.
func wantedBefore(earlier []configs.Webhook, url, name string) bool {
	for _, w := range earlier {
		if w.URL == url && w.Wants(name) {
			return true
		}
	}
	return false
}

// appOf returns app's entry, made on its first event; nil once closed.
func (d *Delivery) appOf(app *configs.App) *appTargets {
	if a := d.index.Load().apps[app.ID]; a != nil {
		return a
	}
	// Outside mu: the metrics' scrape callback holds the metrics' lock while it reads ours.
	metrics := d.tel.Metrics().App(app.ID)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return nil
	}
	old := d.index.Load()
	if a := old.apps[app.ID]; a != nil {
		return a
	}
	a := &appTargets{id: app.ID, metrics: metrics}
	a.app.Store(app)
	next := &index{apps: maps.Clone(old.apps), targets: old.targets}
	next.apps[app.ID] = a
	d.index.Store(next)
	metrics.ObserveWebhookOldestUndelivered(func() time.Duration { return d.oldestUndelivered(a.id) })
	return a
}

// targetOf returns a's target for rawURL, started on its first event; nil once closed.
func (d *Delivery) targetOf(a *appTargets, rawURL string) *target {
	key := targetKey{a.id, rawURL}
	if t := d.index.Load().targets[key]; t != nil {
		return t
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return nil
	}
	old := d.index.Load()
	if t := old.targets[key]; t != nil {
		return t
	}
	t := newTarget(d, a, rawURL)
	next := &index{apps: old.apps, targets: maps.Clone(old.targets)}
	next.targets[key] = t
	d.index.Store(next)
	d.wg.Add(1)
	go t.loop()
	return t
}

// redact hides a password in a target's URL from the logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return u.Redacted()
}

// targets returns the targets of app id, or of every app when id is "".
func (d *Delivery) targets(id string) []*target {
	var out []*target
	for key, t := range d.index.Load().targets {
		if id == "" || key.app == id {
			out = append(out, t)
		}
	}
	return out
}

// Stats returns the counters of app id's targets. Safe from any goroutine.
func (d *Delivery) Stats(appID string) Stats {
	var s Stats
	for _, t := range d.targets(appID) {
		t.mu.Lock()
		s.Sent += t.stats.Sent
		s.Posts += t.stats.Posts
		s.Failed += t.stats.Failed
		s.Retried += t.stats.Retried
		s.Dropped += t.stats.Dropped
		s.Queued += int64(t.undelivered)
		s.RetryBacklog += int64(t.backlogEvents)
		t.mu.Unlock()
	}
	return s
}

// oldestUndelivered is the age of app id's oldest event not yet delivered, 0 when there is none.
func (d *Delivery) oldestUndelivered(id string) time.Duration {
	var oldest time.Time
	for _, t := range d.targets(id) {
		if at, ok := t.oldest(); ok && (oldest.IsZero() || at.Before(oldest)) {
			oldest = at
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return d.clock.Since(oldest)
}

// changePending adds delta to the events not yet delivered, telling Flush when none are left.
func (d *Delivery) changePending(delta int) {
	if d.pending.Add(int64(delta)) == 0 {
		d.signalDrained()
	}
}

func (d *Delivery) signalDrained() {
	select {
	case d.drained <- struct{}{}:
	default:
	}
}

// Flush is the graceful end: it sends everything queued at once (no batch window, the retry
// backlog due now), waits until every queue is empty or ctx ends, then stops as Close does.
// Events emitted meanwhile are sent too. The error says how many events were left unsent.
func (d *Delivery) Flush(ctx context.Context) error {
	if d.closed.Load() {
		return nil
	}
	d.flushing.Store(true)
	for _, t := range d.targets("") {
		t.poke()
	}
	var ctxErr error
	for ctxErr == nil && d.pending.Load() > 0 {
		select {
		case <-d.drained:
			if d.pending.Load() == 0 {
				d.signalDrained() // for another Flush waiting beside this one
			}
		case <-ctx.Done():
			ctxErr = context.Cause(ctx)
		}
	}
	d.Close()
	n := d.unsent.Load()
	switch {
	case n == 0:
		return nil
	case ctxErr != nil:
		return fmt.Errorf("webhooks: %d events left unsent: %w", n, ctxErr)
	default:
		return fmt.Errorf("webhooks: %d events left unsent (emitted after the queues were empty)", n)
	}
}

// Close stops at once: POSTs in flight are abandoned and what is queued is dropped, counted as
// dropped and logged once. It returns when every goroutine of the delivery has ended. Calling it
// again does nothing.
func (d *Delivery) Close() {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed.Store(true)
		apps := d.index.Load().apps
		d.mu.Unlock()
		d.cancelPost()
		close(d.stop)
		d.wg.Wait()
		for _, a := range apps {
			a.metrics.ObserveWebhookOldestUndelivered(nil)
		}
		if d.ownClient {
			d.client.CloseIdleConnections()
		}
		if n := d.unsent.Load(); n > 0 {
			d.log.Warn("webhook delivery stopped with events unsent", "dropped", n)
		}
	})
}
