package telemetry

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MessageKind is the `kind` label of herald_messages_received_total and
// herald_messages_sent_total.
type MessageKind uint8

// Message kinds. Received counts frames from clients and events accepted by the HTTP API;
// sent counts frames queued to sockets.
const (
	KindAPIEvent    MessageKind = iota // an event of the HTTP API (events, batch_events)
	KindClientEvent                    // a client- event
	KindUserEvent                      // a server-to-user event (#server-to-user-{id})
	KindSubscribe                      // pusher:subscribe
	KindUnsubscribe                    // pusher:unsubscribe
	KindSignin                         // pusher:signin
	KindPing                           // pusher:ping and pusher:pong
	KindInternal                       // frames herald makes: connection_established, pusher_internal:*, member events, errors
	KindOther                          // anything else: unknown or invalid frames
	numMessageKinds
)

var messageKindNames = [numMessageKinds]string{
	KindAPIEvent: "api_event", KindClientEvent: "client_event", KindUserEvent: "user_event",
	KindSubscribe: "subscribe", KindUnsubscribe: "unsubscribe", KindSignin: "signin",
	KindPing: "ping", KindInternal: "internal", KindOther: "other",
}

func (k MessageKind) String() string {
	if k < numMessageKinds {
		return messageKindNames[k]
	}
	return messageKindNames[KindOther]
}

// Metric label names.
const (
	labelApp      = "app"
	labelCode     = "code"
	labelKind     = "kind"
	labelEndpoint = "endpoint"
	labelStatus   = "status"
	labelOutcome  = "outcome"
)

// latencyBuckets are the bounds, in seconds, of the delivery and HTTP latency histograms:
// 0.5 ms to 10 s.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics records herald's measurements. The Prometheus exporter turns the OpenTelemetry
// instrument names below into the exposition names (dots to underscores, the unit's suffix,
// _total on counters):
//
//	herald_connections{app}                          open sockets (gauge)
//	herald_connects_total{app}                       sockets admitted
//	herald_disconnects_total{app,code}               sockets closed, by close code
//	herald_subscriptions{app,kind}                   subscriptions, by channel kind (gauge)
//	herald_occupied_channels{app}                    occupied channels (gauge)
//	herald_presence_members{app}                     presence members, over all channels (gauge)
//	herald_messages_received_total{app,kind}         messages in, by MessageKind
//	herald_messages_sent_total{app,kind}             frames out, by MessageKind
//	herald_received_bytes_total{app}                 WebSocket bytes in
//	herald_sent_bytes_total{app}                     WebSocket bytes out
//	herald_delivery_latency_seconds{app}             trigger accepted -> frame queued to the sockets of a node (histogram)
//	herald_http_requests_total{endpoint,status}      HTTP API requests
//	herald_http_request_duration_seconds{endpoint,status}  their latency (histogram)
//	herald_webhook_events_sent_total{app}            webhook events delivered (2xx)
//	herald_webhook_posts_failed_total{app}           webhook POSTs failed
//	herald_webhook_posts_retried_total{app}          webhook POSTs that repeated a failed one
//	herald_webhook_events_dropped_total{app}         webhook events given up
//	herald_webhook_events_queued{app}                webhook events waiting (gauge)
//	herald_webhook_retry_backlog{app}                webhook events in failed batches awaiting a retry (gauge)
//	herald_webhook_oldest_undelivered_seconds{app}   age of the oldest webhook event not yet delivered (gauge, read at scrape)
//	herald_slow_consumer_disconnects_total{app}      sockets closed because their queue was full
//	herald_write_delay_seconds                       how long the frames written lately waited in their sockets' queues (gauge, read at scrape)
//	herald_http_backpressure_total{outcome}          triggers held back because the sockets were behind: "taken" after a wait, "refused" with 503
//	herald_channel_rebuilds_total                    channel grains rebuilt from every member's state on this member
//	herald_cluster_members                           cluster members this node sees (gauge)
//	herald_apps{source}                              apps served, from the config file or the database (gauge)
//	herald_apps_database_up                          1 while the apps database answers, 0 through an outage (gauge; only with a database)
//	herald_apps_database_errors_total                failed connections and reads of the apps database
//
// A nil *Metrics (metrics off) records nothing, and so do the nil *AppMetrics it returns.
// Per-app measurements go through App(id), whose result a caller keeps (in its app, its
// actor) so that recording needs no lookup: every method of AppMetrics with a fixed label set
// allocates nothing. On the fan-out path record once per batch, not once per socket:
// AddMessagesOut(kind, n) and AddBytesOut(n * len(frame)).
type Metrics struct {
	connections     metric.Int64UpDownCounter
	connects        metric.Int64Counter
	disconnects     metric.Int64Counter
	subscriptions   metric.Int64UpDownCounter
	occupied        metric.Int64UpDownCounter
	presenceMembers metric.Int64UpDownCounter
	messagesIn      metric.Int64Counter
	messagesOut     metric.Int64Counter
	bytesIn         metric.Int64Counter
	bytesOut        metric.Int64Counter
	deliveryLatency metric.Float64Histogram
	httpRequests    metric.Int64Counter
	httpDuration    metric.Float64Histogram
	webhookSent     metric.Int64Counter
	webhookFailed   metric.Int64Counter
	webhookRetried  metric.Int64Counter
	webhookDropped  metric.Int64Counter
	webhookQueued   metric.Int64UpDownCounter
	webhookBacklog  metric.Int64UpDownCounter
	slowConsumers   metric.Int64Counter
	backpressure    metric.Int64Counter
	rebuilds        metric.Int64Counter
	appSources      appSourceMetrics

	clusterMembers   atomic.Int64
	clusterMembersFn atomic.Pointer[func() int]
	writeDelayFn     atomic.Pointer[func() time.Duration]
	backpressureOpts [2]measurementOpts // {outcome="taken"}, {outcome="refused"}

	appsMu sync.RWMutex
	apps   map[string]*AppMetrics

	httpMu   sync.RWMutex
	httpOpts map[httpKey]measurementOpts
}

// measurementOpts is one attribute set, pre-bound as the options the instruments take, so a
// measurement passes an existing slice and allocates nothing.
type measurementOpts struct {
	add     []metric.AddOption
	record  []metric.RecordOption
	observe []metric.ObserveOption
}

func bind(attrs ...attribute.KeyValue) measurementOpts {
	opt := metric.WithAttributeSet(attribute.NewSet(attrs...))
	return measurementOpts{add: []metric.AddOption{opt}, record: []metric.RecordOption{opt}, observe: []metric.ObserveOption{opt}}
}

type httpKey struct {
	endpoint string
	status   int
}

func newMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{apps: map[string]*AppMetrics{}, httpOpts: map[httpKey]measurementOpts{}}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64UpDownCounter {
		c, err := meter.Int64UpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(latencyBuckets...))
		errs = append(errs, err)
		return h
	}
	m.connections = gauge("herald.connections", "{connection}", "Open WebSocket connections.")
	m.connects = counter("herald.connects", "{connection}", "WebSocket connections admitted.")
	m.disconnects = counter("herald.disconnects", "{connection}", "WebSocket connections closed, by close code.")
	m.subscriptions = gauge("herald.subscriptions", "{subscription}", "Channel subscriptions of sockets on this node, by channel kind.")
	m.occupied = gauge("herald.occupied_channels", "{channel}", "Occupied channels whose grain runs on this node.")
	m.presenceMembers = gauge("herald.presence_members", "{member}", "Presence channel members, summed over the channels whose grain runs on this node.")
	m.messagesIn = counter("herald.messages.received", "{message}", "Messages received: client frames and HTTP API events, by kind.")
	m.messagesOut = counter("herald.messages.sent", "{message}", "Frames queued to sockets, by kind.")
	m.bytesIn = counter("herald.received", "By", "WebSocket message bytes received.")
	m.bytesOut = counter("herald.sent", "By", "WebSocket frame bytes queued to sockets.")
	m.deliveryLatency = histogram("herald.delivery.latency", "Time from an event's acceptance to its frame being queued to the subscribed sockets of a node.")
	m.httpRequests = counter("herald.http.requests", "{request}", "HTTP API requests, by endpoint and status.")
	m.httpDuration = histogram("herald.http.request.duration", "HTTP API request latency, by endpoint and status.")
	m.webhookSent = counter("herald.webhook.events.sent", "{event}", "Webhook events delivered (their POST was answered with a 2xx).")
	m.webhookFailed = counter("herald.webhook.posts.failed", "{request}", "Webhook POSTs that failed: non-2xx, timeout, network error.")
	m.webhookRetried = counter("herald.webhook.posts.retried", "{request}", "Webhook POSTs that repeated a failed one.")
	m.webhookDropped = counter("herald.webhook.events.dropped", "{event}", "Webhook events given up: queue full, retries exhausted, or stopped.")
	m.webhookQueued = gauge("herald.webhook.events.queued", "{event}", "Webhook events waiting to be delivered.")
	m.webhookBacklog = gauge("herald.webhook.retry_backlog", "{event}", "Webhook events in failed batches waiting for (or in) a retry.")
	m.slowConsumers = counter("herald.slow_consumer.disconnects", "{connection}", "Connections closed because their write queue was full.")
	m.backpressure = counter("herald.http.backpressure", "{request}", "Event triggers held back because the sockets' queues were more than backpressure.max_delay behind, by outcome: taken after a wait, or refused with 503.")
	m.backpressureOpts = [2]measurementOpts{bind(attribute.String(labelOutcome, "taken")), bind(attribute.String(labelOutcome, "refused"))}
	if m.backpressure != nil {
		for _, opts := range m.backpressureOpts { // exported from the start, as rebuilds below
			m.backpressure.Add(context.Background(), 0, opts.add...)
		}
	}
	m.rebuilds = counter("herald.channel.rebuilds", "{rebuild}", "Channel grains that rebuilt themselves from every member's state on this member (the grain moved, or its member died).")
	if m.rebuilds != nil {
		m.rebuilds.Add(context.Background(), 0) // exported from the start: a dashboard shows 0, not "no data"
	}
	_, err := meter.Int64ObservableGauge("herald.cluster.members",
		metric.WithUnit("{member}"), metric.WithDescription("Cluster members this node sees, itself included."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			n := m.clusterMembers.Load()
			if fn := m.clusterMembersFn.Load(); fn != nil {
				n = int64((*fn)())
			}
			o.Observe(n)
			return nil
		}))
	errs = append(errs, err)
	_, err = meter.Float64ObservableGauge("herald.write.delay",
		metric.WithUnit("s"), metric.WithDescription("How long after herald took their events the frames written lately (the last 0.2-0.4 s) went out, sockets whose clients do not read left out: what backpressure.max_delay is compared with."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			if fn := m.writeDelayFn.Load(); fn != nil {
				o.Observe((*fn)().Seconds())
			}
			return nil
		}))
	errs = append(errs, err)
	_, err = meter.Float64ObservableGauge("herald.webhook.oldest_undelivered",
		metric.WithUnit("s"), metric.WithDescription("Age of the oldest webhook event not yet delivered (queued, being posted or awaiting a retry); 0 when none."),
		metric.WithFloat64Callback(m.observeWebhookOldest))
	errs = append(errs, err)
	errs = append(errs, m.appSources.init(meter))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// App returns the measurements labelled with app id; it is created on first use and the same
// afterwards, so keep it rather than calling App on every measurement. Call it only with ids
// of configured apps: every id makes its own series.
func (m *Metrics) App(appID string) *AppMetrics {
	if m == nil {
		return nil
	}
	m.appsMu.RLock()
	a := m.apps[appID]
	m.appsMu.RUnlock()
	if a != nil {
		return a
	}
	m.appsMu.Lock()
	defer m.appsMu.Unlock()
	if a = m.apps[appID]; a == nil {
		a = newAppMetrics(m, appID)
		m.apps[appID] = a
	}
	return a
}

// RecordHTTPRequest counts one HTTP API request and its latency. endpoint is the route pattern
// (/apps/{app}/events), never the raw path. WrapHTTP calls it.
func (m *Metrics) RecordHTTPRequest(endpoint string, status int, d time.Duration) {
	if m == nil {
		return
	}
	k := httpKey{endpoint, status}
	m.httpMu.RLock()
	opts, ok := m.httpOpts[k]
	m.httpMu.RUnlock()
	if !ok {
		opts = bind(attribute.String(labelEndpoint, endpoint), attribute.String(labelStatus, strconv.Itoa(status)))
		m.httpMu.Lock()
		m.httpOpts[k] = opts
		m.httpMu.Unlock()
	}
	m.httpRequests.Add(context.Background(), 1, opts.add...)
	m.httpDuration.Record(context.Background(), d.Seconds(), opts.record...)
}

// observeWebhookOldest reports herald_webhook_oldest_undelivered_seconds of every app whose
// webhook delivery registered a reader. The readers run after appsMu is released: they take
// the delivery's own locks, and the delivery may be creating an App meanwhile.
func (m *Metrics) observeWebhookOldest(_ context.Context, o metric.Float64Observer) error {
	type reading struct {
		fn   func() time.Duration
		opts []metric.ObserveOption
	}
	m.appsMu.RLock()
	readings := make([]reading, 0, len(m.apps))
	for _, a := range m.apps {
		if fn := a.webhookOldest.Load(); fn != nil {
			readings = append(readings, reading{*fn, a.app.observe})
		}
	}
	m.appsMu.RUnlock()
	for _, r := range readings {
		o.Observe(max(r.fn(), 0).Seconds(), r.opts...)
	}
	return nil
}

// SetClusterMembers sets herald_cluster_members.
func (m *Metrics) SetClusterMembers(n int) {
	if m != nil {
		m.clusterMembers.Store(int64(n))
	}
}

// AddRebuild counts a channel grain that rebuilt itself (herald_channel_rebuilds_total).
func (m *Metrics) AddRebuild() {
	if m != nil {
		m.rebuilds.Add(context.Background(), 1)
	}
}

// ObserveClusterMembers makes herald_cluster_members read fn at every scrape instead of the
// value of SetClusterMembers. fn must be safe to call from any goroutine.
func (m *Metrics) ObserveClusterMembers(fn func() int) {
	if m != nil {
		m.clusterMembersFn.Store(&fn)
	}
}

// ObserveWriteDelay makes herald_write_delay_seconds read fn at every scrape. fn must be safe to
// call from any goroutine.
func (m *Metrics) ObserveWriteDelay(fn func() time.Duration) {
	if m != nil {
		m.writeDelayFn.Store(&fn)
	}
}

// AddBackpressure counts a trigger that back-pressure held back: taken after its wait, or
// refused (herald_http_backpressure_total).
func (m *Metrics) AddBackpressure(refused bool) {
	if m == nil {
		return
	}
	opts := m.backpressureOpts[0]
	if refused {
		opts = m.backpressureOpts[1]
	}
	m.backpressure.Add(context.Background(), 1, opts.add...)
}

// AppMetrics are the measurements of one app. A nil *AppMetrics records nothing.
type AppMetrics struct {
	m     *Metrics
	appID string
	app   measurementOpts                  // {app}
	kinds [numMessageKinds]measurementOpts // {app, kind}

	mu          sync.RWMutex
	codes       map[string]measurementOpts // close code label -> {app, code}
	channelKind map[string]measurementOpts // channel kind -> {app, kind}

	webhookOldest atomic.Pointer[func() time.Duration]
}

func newAppMetrics(m *Metrics, appID string) *AppMetrics {
	a := &AppMetrics{
		m: m, appID: appID, app: bind(attribute.String(labelApp, appID)),
		codes: map[string]measurementOpts{}, channelKind: map[string]measurementOpts{},
	}
	for k := range a.kinds {
		a.kinds[k] = bind(attribute.String(labelApp, appID), attribute.String(labelKind, MessageKind(k).String()))
	}
	return a
}

// Connected counts an admitted socket: herald_connects_total and herald_connections + 1.
func (a *AppMetrics) Connected() {
	if a == nil {
		return
	}
	a.m.connects.Add(context.Background(), 1, a.app.add...)
	a.m.connections.Add(context.Background(), 1, a.app.add...)
}

// Disconnected counts a closed socket of one admitted with Connected, with the WebSocket close
// code herald sent or received (1006 when the connection dropped without one).
func (a *AppMetrics) Disconnected(code int) {
	if a == nil {
		return
	}
	a.m.connections.Add(context.Background(), -1, a.app.add...)
	a.m.disconnects.Add(context.Background(), 1, a.codeOpts(code).add...)
}

// closeCodeLabel keeps the code label's values few: the standard codes and Pusher's ranges
// are themselves, any other code a client sends is "other".
func closeCodeLabel(code int) string {
	if (code >= 1000 && code <= 1015) || (code >= 4000 && code <= 4399) {
		return strconv.Itoa(code)
	}
	return "other"
}

func (a *AppMetrics) codeOpts(code int) measurementOpts {
	label := closeCodeLabel(code)
	a.mu.RLock()
	opts, ok := a.codes[label]
	a.mu.RUnlock()
	if !ok {
		opts = bind(attribute.String(labelApp, a.appID), attribute.String(labelCode, label))
		a.mu.Lock()
		a.codes[label] = opts
		a.mu.Unlock()
	}
	return opts
}

// AddSubscriptions adds delta (+1 subscribed, -1 unsubscribed or closed) to the subscriptions
// of channel kind (public, private, presence, private-encrypted, or the kind names the caller
// uses; keep them few).
func (a *AppMetrics) AddSubscriptions(channelKind string, delta int) {
	if a == nil {
		return
	}
	a.mu.RLock()
	opts, ok := a.channelKind[channelKind]
	a.mu.RUnlock()
	if !ok {
		opts = bind(attribute.String(labelApp, a.appID), attribute.String(labelKind, channelKind))
		a.mu.Lock()
		a.channelKind[channelKind] = opts
		a.mu.Unlock()
	}
	a.m.subscriptions.Add(context.Background(), int64(delta), opts.add...)
}

// AddOccupiedChannels adds delta (+1 occupied, -1 vacated) to herald_occupied_channels. The
// channel grain records it, so a cluster's sum over nodes counts each channel once.
func (a *AppMetrics) AddOccupiedChannels(delta int) {
	if a != nil {
		a.m.occupied.Add(context.Background(), int64(delta), a.app.add...)
	}
}

// AddPresenceMembers adds delta (+1 member_added, -1 member_removed) to
// herald_presence_members. The channel grain records it.
func (a *AppMetrics) AddPresenceMembers(delta int) {
	if a != nil {
		a.m.presenceMembers.Add(context.Background(), int64(delta), a.app.add...)
	}
}

// AddMessagesIn counts n messages in of kind.
func (a *AppMetrics) AddMessagesIn(kind MessageKind, n int) {
	if a != nil {
		a.m.messagesIn.Add(context.Background(), int64(n), a.kinds[kind%numMessageKinds].add...)
	}
}

// AddMessagesOut counts n frames out of kind: a fan-out calls it once per delivery with the
// number of sockets, not once per socket.
func (a *AppMetrics) AddMessagesOut(kind MessageKind, n int) {
	if a != nil {
		a.m.messagesOut.Add(context.Background(), int64(n), a.kinds[kind%numMessageKinds].add...)
	}
}

// AddBytesIn counts WebSocket bytes in.
func (a *AppMetrics) AddBytesIn(n int) {
	if a != nil {
		a.m.bytesIn.Add(context.Background(), int64(n), a.app.add...)
	}
}

// AddBytesOut counts WebSocket bytes out: a fan-out adds recipients x frame size once.
func (a *AppMetrics) AddBytesOut(n int) {
	if a != nil {
		a.m.bytesOut.Add(context.Background(), int64(n), a.app.add...)
	}
}

// RecordDeliveryLatency records one delivery's time from acceptance to the frame queued to a
// node's sockets (recorded once per node, when the fan-out has queued it to every socket).
func (a *AppMetrics) RecordDeliveryLatency(d time.Duration) {
	if a != nil {
		a.m.deliveryLatency.Record(context.Background(), d.Seconds(), a.app.record...)
	}
}

// RecordDeliverySince records the delivery latency of an event accepted at acceptedUnixNano
// (the accepted_unix_nano of Publish and Deliver), measured now. 0 (an untimed frame) is
// skipped. Across nodes it includes their clock difference.
func (a *AppMetrics) RecordDeliverySince(acceptedUnixNano int64) {
	if a != nil && acceptedUnixNano != 0 {
		a.RecordDeliveryLatency(time.Duration(time.Now().UnixNano() - acceptedUnixNano))
	}
}

// AddWebhookEventsSent counts n webhook events delivered.
func (a *AppMetrics) AddWebhookEventsSent(n int) {
	if a != nil {
		a.m.webhookSent.Add(context.Background(), int64(n), a.app.add...)
	}
}

// AddWebhookPostFailed counts a failed webhook POST.
func (a *AppMetrics) AddWebhookPostFailed() {
	if a != nil {
		a.m.webhookFailed.Add(context.Background(), 1, a.app.add...)
	}
}

// AddWebhookPostRetried counts a webhook POST that repeats a failed one.
func (a *AppMetrics) AddWebhookPostRetried() {
	if a != nil {
		a.m.webhookRetried.Add(context.Background(), 1, a.app.add...)
	}
}

// AddWebhookEventsDropped counts n webhook events given up.
func (a *AppMetrics) AddWebhookEventsDropped(n int) {
	if a != nil {
		a.m.webhookDropped.Add(context.Background(), int64(n), a.app.add...)
	}
}

// AddWebhookEventsQueued adds delta to the webhook events waiting (+n queued, -n delivered or
// dropped).
func (a *AppMetrics) AddWebhookEventsQueued(delta int) {
	if a != nil {
		a.m.webhookQueued.Add(context.Background(), int64(delta), a.app.add...)
	}
}

// AddWebhookRetryBacklog adds delta to the webhook events in failed batches waiting for a
// retry (+n when a batch first fails, -n when it is delivered or given up).
func (a *AppMetrics) AddWebhookRetryBacklog(delta int) {
	if a != nil {
		a.m.webhookBacklog.Add(context.Background(), int64(delta), a.app.add...)
	}
}

// ObserveWebhookOldestUndelivered makes herald_webhook_oldest_undelivered_seconds of the app
// read fn at every scrape: the age of the app's oldest webhook event not yet delivered, 0 when
// there is none. fn must be safe to call from any goroutine. nil stops the series.
func (a *AppMetrics) ObserveWebhookOldestUndelivered(fn func() time.Duration) {
	switch {
	case a == nil:
	case fn == nil:
		a.webhookOldest.Store(nil)
	default:
		read := fn // declared here so that only this branch moves it to the heap
		a.webhookOldest.Store(&read)
	}
}

// AddSlowConsumerDisconnect counts a socket closed because its write queue was full.
func (a *AppMetrics) AddSlowConsumerDisconnect() {
	if a != nil {
		a.m.slowConsumers.Add(context.Background(), 1, a.app.add...)
	}
}
