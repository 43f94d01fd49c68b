package actors

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

const (
	hookKey    = "hook-key"
	hookSecret = "hook-secret"
)

// webhookReceiver is a webhook endpoint that checks each POST the way pusher.webhook(req)
// .isValid() does, with its own HMAC code, and answers as its script says.
type webhookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	script receiverScript
	posts  chan receivedPost
	seq    atomic.Int64
	// inFlight and maxInFlight count requests being handled at once.
	inFlight, maxInFlight atomic.Int64
	closing               chan struct{}
}

// receiverScript says how a receiver answers its n-th request (from 0).
type receiverScript struct {
	answer func(n int) int  // the status; default 200
	hang   func(n int) bool // wait until the client gives up instead of answering
	before func(n int)      // runs first and may block
}

type receivedPost struct {
	n      int
	at     time.Time
	status int // -1: hung until the client gave up
	raw    string
	body   webhookBody
}

type webhookBody struct {
	TimeMS int64          `json:"time_ms"`
	Events []WebhookEvent `json:"events"`
}

func newWebhookReceiver(t *testing.T, script receiverScript) *webhookReceiver {
	t.Helper()
	if script.answer == nil {
		script.answer = func(int) int { return http.StatusOK }
	}
	if script.hang == nil {
		script.hang = func(int) bool { return false }
	}
	if script.before == nil {
		script.before = func(int) {}
	}
	r := &webhookReceiver{t: t, script: script, posts: make(chan receivedPost, 100), closing: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		close(r.closing)
		r.srv.Close()
	})
	return r
}

func (r *webhookReceiver) url() string { return r.srv.URL + "/pusher/webhook" }

func (r *webhookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	n := int(r.seq.Add(1) - 1)
	at := time.Now()
	now := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for m := r.maxInFlight.Load(); now > m && !r.maxInFlight.CompareAndSwap(m, now); m = r.maxInFlight.Load() {
	}
	r.script.before(n)
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Errorf("post %d: read body: %v", n, err)
		return
	}
	if req.Method != http.MethodPost || req.URL.Path != "/pusher/webhook" {
		r.t.Errorf("post %d: %s %s", n, req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("post %d: Content-Type %q", n, ct)
	}
	if key := req.Header.Get("X-Pusher-Key"); key != hookKey {
		r.t.Errorf("post %d: X-Pusher-Key %q", n, key)
	}
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(raw)
	want := hex.EncodeToString(mac.Sum(nil))
	if got := req.Header.Get("X-Pusher-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		r.t.Errorf("post %d: X-Pusher-Signature %q, want %q", n, got, want)
	}
	var body webhookBody
	if err := json.Unmarshal(raw, &body); err != nil {
		r.t.Errorf("post %d: body %s: %v", n, raw, err)
	}
	if r.script.hang(n) {
		select {
		case <-req.Context().Done():
		case <-r.closing:
		}
		r.posts <- receivedPost{n: n, at: at, status: -1, raw: string(raw), body: body}
		return
	}
	status := r.script.answer(n)
	w.WriteHeader(status)
	r.posts <- receivedPost{n: n, at: at, status: status, raw: string(raw), body: body}
}

func (r *webhookReceiver) next(t *testing.T) receivedPost {
	t.Helper()
	select {
	case p := <-r.posts:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook POST within 5s")
		return receivedPost{}
	}
}

// none asserts that no POST arrived beyond those already taken.
func (r *webhookReceiver) none(t *testing.T) {
	t.Helper()
	select {
	case p := <-r.posts:
		t.Fatalf("unexpected POST %d: %s", p.n, p.raw)
	default:
	}
}

func hookApp(targets ...Webhook) *App {
	return &App{ID: "hook-app", Key: hookKey, Secret: hookSecret, Enabled: true, Webhooks: targets}
}

// startWebhooks runs app's dispatcher in an actor system of its own, stopped at the end of t.
func startWebhooks(t *testing.T, app *App, opts WebhookOptions) *webhooks {
	t.Helper()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := spawnWebhooks(system.Root, app, opts)
	t.Cleanup(func() {
		w.stop()
		system.Shutdown()
	})
	return w
}

func flushWebhooks(t *testing.T, w *webhooks) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func checkWebhookStats(t *testing.T, w *webhooks, want WebhookStats) {
	t.Helper()
	if got := w.Stats(); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}

func int64Ptr(n int64) *int64 { return &n }

func TestWebhookBatchesSignedEventsInOrder(t *testing.T) {
	r := newWebhookReceiver(t, receiverScript{})
	now := time.UnixMilli(1_700_000_000_123)
	w := startWebhooks(t, hookApp(Webhook{URL: r.url()}), WebhookOptions{
		BatchWindow: 200 * time.Millisecond, // wide enough for three sends in a row, even under -race
		Now:         func() time.Time { return now },
	})
	events := []*WebhookEvent{
		{Name: WebhookMemberAdded, Channel: "presence-room", UserID: "7"},
		{Name: WebhookClientEvent, Channel: "private-chat", Event: "client-typing", SocketID: "1.2"},
		{Name: WebhookSubscriptionCount, Channel: "news", SubscriptionCount: int64Ptr(0)},
	}
	for _, ev := range events {
		w.emit(w.root, ev)
	}

	p := r.next(t)
	wantRaw := `{"time_ms":1700000000123,"events":[` +
		`{"name":"member_added","channel":"presence-room","user_id":"7"},` +
		`{"name":"client_event","channel":"private-chat","event":"client-typing","data":"","socket_id":"1.2"},` +
		`{"name":"subscription_count","channel":"news","subscription_count":0}]}`
	if p.raw != wantRaw {
		t.Fatalf("body\n%s\nwant\n%s", p.raw, wantRaw)
	}
	for i, ev := range events {
		if !reflect.DeepEqual(p.body.Events[i], *ev) {
			t.Errorf("event %d decodes to %+v, want %+v", i, p.body.Events[i], *ev)
		}
	}
	flushWebhooks(t, w)
	r.none(t)
	checkWebhookStats(t, w, WebhookStats{Sent: 3, Posts: 1})
}

func TestWebhookEventJSON(t *testing.T) {
	cases := []struct {
		ev   WebhookEvent
		want string
	}{
		{WebhookEvent{Name: WebhookChannelOccupied, Channel: "x"}, `{"name":"channel_occupied","channel":"x"}`},
		{WebhookEvent{Name: WebhookCacheMiss, Channel: "cache-x"}, `{"name":"cache_miss","channel":"cache-x"}`},
		{WebhookEvent{Name: WebhookMemberRemoved, Channel: "presence-x", UserID: "1"}, `{"name":"member_removed","channel":"presence-x","user_id":"1"}`},
		{
			WebhookEvent{Name: WebhookClientEvent, Channel: "presence-x", Event: "client-e", Data: "{\"a\":\"\u00e9\n\"}", SocketID: "1.2", UserID: "u"},
			`{"name":"client_event","channel":"presence-x","event":"client-e","data":"{\"a\":\"é\n\"}","socket_id":"1.2","user_id":"u"}`,
		},
		{WebhookEvent{Name: WebhookSubscriptionCount, Channel: "x", SubscriptionCount: int64Ptr(12)}, `{"name":"subscription_count","channel":"x","subscription_count":12}`},
	}
	for _, c := range cases {
		got, err := json.Marshal(&c.ev)
		if err != nil {
			t.Fatalf("%s: %v", c.ev.Name, err)
		}
		var gotV, wantV any
		if err := json.Unmarshal(got, &gotV); err != nil {
			t.Fatalf("%s: %s is not JSON: %v", c.ev.Name, got, err)
		}
		if err := json.Unmarshal([]byte(c.want), &wantV); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotV, wantV) {
			t.Errorf("%s: got %s, want %s", c.ev.Name, got, c.want)
		}
	}
}

func TestWebhookFiltersByEventTypes(t *testing.T) {
	channels := newWebhookReceiver(t, receiverScript{})
	members := newWebhookReceiver(t, receiverScript{})
	w := startWebhooks(t, hookApp(
		Webhook{URL: channels.url(), EventTypes: []string{WebhookChannelOccupied, WebhookChannelVacated}},
		Webhook{URL: members.url(), EventTypes: []string{WebhookMemberAdded}},
	), WebhookOptions{BatchWindow: time.Hour}) // only the flush sends

	if w.wants(WebhookClientEvent) || !w.wants(WebhookMemberAdded) || !w.wants(WebhookChannelVacated) {
		t.Fatal("wants does not follow the targets' event types")
	}
	for _, ev := range []*WebhookEvent{
		{Name: WebhookChannelOccupied, Channel: "presence-a"},
		{Name: WebhookMemberAdded, Channel: "presence-a", UserID: "1"},
		{Name: WebhookClientEvent, Channel: "presence-a", Event: "client-x"}, // nobody's: not even sent
		{Name: WebhookChannelVacated, Channel: "presence-a"},
	} {
		w.emit(w.root, ev)
	}
	flushWebhooks(t, w)

	names := func(p receivedPost) []string {
		var out []string
		for _, ev := range p.body.Events {
			out = append(out, ev.Name)
		}
		return out
	}
	if got := names(channels.next(t)); !reflect.DeepEqual(got, []string{WebhookChannelOccupied, WebhookChannelVacated}) {
		t.Errorf("channel target got %v", got)
	}
	if got := names(members.next(t)); !reflect.DeepEqual(got, []string{WebhookMemberAdded}) {
		t.Errorf("member target got %v", got)
	}
	channels.none(t)
	members.none(t)
	checkWebhookStats(t, w, WebhookStats{Sent: 3, Posts: 2})

	var nilHooks *webhooks // an app without targets
	if nilHooks.wants(WebhookChannelOccupied) || nilHooks.flush(context.Background()) != nil || nilHooks.Stats() != (WebhookStats{}) {
		t.Fatal("a nil *webhooks is not a no-op")
	}
	nilHooks.emit(w.root, &WebhookEvent{Name: WebhookChannelOccupied})
	nilHooks.stop()
}

func TestWebhookRetriesWithBackoffAndDeliversOnce(t *testing.T) {
	r := newWebhookReceiver(t, receiverScript{answer: func(n int) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}})
	const initial = 20 * time.Millisecond
	w := startWebhooks(t, hookApp(Webhook{URL: r.url()}), WebhookOptions{
		BatchWindow: time.Millisecond, InitialBackoff: initial, MaxBackoff: time.Second, RetryFor: time.Minute,
	})
	w.emit(w.root, &WebhookEvent{Name: WebhookChannelOccupied, Channel: "a"})

	p0, p1, p2 := r.next(t), r.next(t), r.next(t)
	if p0.status != 500 || p1.status != 500 || p2.status != 204 {
		t.Fatalf("statuses %d %d %d", p0.status, p1.status, p2.status)
	}
	if p1.raw != p0.raw || p2.raw != p0.raw {
		t.Fatalf("a retry changed the body:\n%s\n%s\n%s", p0.raw, p1.raw, p2.raw)
	}
	// Back-off: initial, then doubled, each less at most 20% jitter.
	if gap := p1.at.Sub(p0.at); gap < initial*8/10 {
		t.Errorf("first retry after %v, want >= %v", gap, initial*8/10)
	}
	if gap := p2.at.Sub(p1.at); gap < 2*initial*8/10 {
		t.Errorf("second retry after %v, want >= %v", gap, 2*initial*8/10)
	}
	flushWebhooks(t, w)
	r.none(t)
	checkWebhookStats(t, w, WebhookStats{Sent: 1, Posts: 1, Failed: 2, Retried: 2})
}

func TestWebhookBackoffDoublesUpToMax(t *testing.T) {
	d := newWebhookDispatcher(hookApp(), WebhookOptions{InitialBackoff: time.Second, MaxBackoff: 5 * time.Second})
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 30: 5 * time.Second} {
		if got := d.backoff(attempts); got > want || got < want*8/10 {
			t.Errorf("backoff after %d failures: %v, want in [%v, %v]", attempts, got, want*8/10, want)
		}
	}
}

func TestWebhookRefusedConnectionIsDroppedAfterRetryFor(t *testing.T) {
	closedURL := "http://" + refusingAddr(t) + "/hook"

	logs := &recordingHandler{}
	const retryFor = 100 * time.Millisecond
	w := startWebhooks(t, hookApp(Webhook{URL: closedURL}), WebhookOptions{
		BatchWindow: time.Millisecond, InitialBackoff: 10 * time.Millisecond, RetryFor: retryFor,
		Logger: slog.New(logs),
	})
	start := time.Now()
	w.emit(w.root, &WebhookEvent{Name: WebhookChannelOccupied, Channel: "a"})
	w.emit(w.root, &WebhookEvent{Name: WebhookChannelVacated, Channel: "a"})
	flushWebhooks(t, w) // returns once the batch is given up

	if elapsed := time.Since(start); elapsed < retryFor {
		t.Errorf("given up after %v, before RetryFor %v", elapsed, retryFor)
	}
	s := w.Stats()
	if s.Dropped != 2 || s.Sent != 0 || s.Queued != 0 || s.Failed < 1 || s.Retried != s.Failed-1 {
		t.Fatalf("stats %+v", s)
	}
	if n := logs.count("webhook batch dropped after retrying"); n != 1 {
		t.Errorf("%d give-up log lines, want 1", n)
	}
}

func TestWebhookTimeoutIsAFailure(t *testing.T) {
	r := newWebhookReceiver(t, receiverScript{hang: func(n int) bool { return n == 0 }})
	w := startWebhooks(t, hookApp(Webhook{URL: r.url()}), WebhookOptions{
		BatchWindow: time.Millisecond, Timeout: 200 * time.Millisecond, InitialBackoff: time.Millisecond,
	})
	w.emit(w.root, &WebhookEvent{Name: WebhookCacheMiss, Channel: "cache-a"})

	// The hung request may report after its retry; a loaded machine may also time out a retry.
	status := map[int]int{}
	delivered := false
	for _, first := status[0]; !first || !delivered; _, first = status[0] {
		p := r.next(t)
		status[p.n] = p.status
		delivered = delivered || p.status == http.StatusOK
	}
	if status[0] != -1 {
		t.Fatalf("statuses by request %v, want the first hung", status)
	}
	flushWebhooks(t, w)
	if s := w.Stats(); s.Sent != 1 || s.Posts != 1 || s.Failed < 1 || s.Retried != s.Failed || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWebhookQueueLimitDropsAndLogsOnce(t *testing.T) {
	r := newWebhookReceiver(t, receiverScript{})
	logs := &recordingHandler{}
	now := time.Now()
	w := startWebhooks(t, hookApp(Webhook{URL: r.url()}), WebhookOptions{
		BatchWindow: time.Hour, // nothing leaves before the flush, so exactly QueueLimit wait
		QueueLimit:  5,
		Logger:      slog.New(logs),
		Now:         func() time.Time { return now },
	})
	for i := range 12 {
		w.emit(w.root, &WebhookEvent{Name: WebhookClientEvent, Channel: "private-a", Event: "client-e", Data: string(rune('a' + i))})
	}
	flushWebhooks(t, w)

	p := r.next(t)
	var data []string
	for _, ev := range p.body.Events {
		data = append(data, ev.Data)
	}
	if want := []string{"a", "b", "c", "d", "e"}; !reflect.DeepEqual(data, want) {
		t.Fatalf("delivered %v, want the first five %v", data, want)
	}
	r.none(t)
	checkWebhookStats(t, w, WebhookStats{Sent: 5, Posts: 1, Dropped: 7})
	if n := logs.count("webhook queue full, dropping events"); n != 1 {
		t.Errorf("%d queue-full log lines for 7 drops within %v, want 1", n, dropLogInterval)
	}
}

func TestWebhookBatchesKeepOrderOnePostAtATime(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	r := newWebhookReceiver(t, receiverScript{before: func(n int) {
		if n == 0 { // hold the first POST until the rest are queued behind it
			close(arrived)
			<-release
		}
	}})
	w := startWebhooks(t, hookApp(Webhook{URL: r.url()}), WebhookOptions{BatchWindow: time.Millisecond, BatchMaxEvents: 2})
	emit := func(channels ...string) {
		for _, c := range channels {
			w.emit(w.root, &WebhookEvent{Name: WebhookChannelOccupied, Channel: c})
		}
	}
	emit("a")
	<-arrived
	emit("b", "c", "d", "e", "f")
	close(release)
	flushWebhooks(t, w)

	var got [][]string
	for range 4 {
		var batch []string
		for _, ev := range r.next(t).body.Events {
			batch = append(batch, ev.Channel)
		}
		got = append(got, batch)
	}
	r.none(t)
	if want := [][]string{{"a"}, {"b", "c"}, {"d", "e"}, {"f"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	if m := r.maxInFlight.Load(); m != 1 {
		t.Fatalf("%d POSTs in flight at once, want 1", m)
	}
	checkWebhookStats(t, w, WebhookStats{Sent: 6, Posts: 4})
}

func TestWebhookStuckTargetDoesNotBlockOthers(t *testing.T) {
	stuck := newWebhookReceiver(t, receiverScript{hang: func(int) bool { return true }})
	ok := newWebhookReceiver(t, receiverScript{})
	w := startWebhooks(t, hookApp(Webhook{URL: stuck.url()}, Webhook{URL: ok.url()}), WebhookOptions{
		BatchWindow: time.Millisecond, Timeout: time.Minute,
	})
	w.emit(w.root, &WebhookEvent{Name: WebhookChannelOccupied, Channel: "a"})
	w.emit(w.root, &WebhookEvent{Name: WebhookChannelVacated, Channel: "a"})
	var got []string
	for len(got) < 2 {
		for _, ev := range ok.next(t).body.Events {
			got = append(got, ev.Name)
		}
	}
	if !reflect.DeepEqual(got, []string{WebhookChannelOccupied, WebhookChannelVacated}) {
		t.Fatalf("healthy target got %v", got)
	}
}

func TestWebhookFlushEndsWithContextAndStopDrops(t *testing.T) {
	r := newWebhookReceiver(t, receiverScript{answer: func(int) int { return http.StatusServiceUnavailable }})
	app := hookApp(Webhook{URL: r.url()})
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	defer system.Shutdown()
	w := spawnWebhooks(system.Root, app, WebhookOptions{
		BatchWindow: time.Hour, InitialBackoff: time.Hour, Logger: slog.New(slog.DiscardHandler),
	})
	w.emit(w.root, &WebhookEvent{Name: WebhookChannelOccupied, Channel: "a"})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.flush(ctx) }()
	r.next(t) // the flush posted at once, and was refused: now an hour of back-off
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("flush: %v, want context.Canceled", err)
	}

	// A flush still waiting when the dispatcher stops learns that events were lost. Its
	// request is in the mailbox before the stop, which is processed in order.
	waiting := make(chan error, 1)
	w.root.Send(w.pid, &webhookFlush{done: waiting})
	w.stop()
	if err := <-waiting; !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("flush across stop: %v, want ErrShuttingDown", err)
	}
	w.stop() // again: a no-op
	// Failed may be 0 or 1: the refusal may reach the actor before or after the stop.
	if s := w.Stats(); s.Dropped != 1 || s.Queued != 0 || s.Sent != 0 || s.Posts != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWebhookFlushAndStopAllApps(t *testing.T) {
	r := newWebhookReceiver(t, receiverScript{})
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	defer system.Shutdown()
	opts := WebhookOptions{BatchWindow: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	var all []*webhooks
	for _, id := range []string{"one", "two"} {
		app := hookApp(Webhook{URL: r.url() + "?app=" + id})
		app.ID = id
		all = append(all, spawnWebhooks(system.Root, app, opts))
	}
	all = append(all, spawnWebhooks(system.Root, hookApp(), opts)) // no targets: nil
	for _, w := range all {
		w.emit(system.Root, &WebhookEvent{Name: WebhookChannelOccupied, Channel: "a"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := flushAndStopWebhooks(ctx, all); err != nil {
		t.Fatal(err)
	}
	r.next(t)
	r.next(t)
	r.none(t)
	for _, w := range all[:2] {
		checkWebhookStats(t, w, WebhookStats{Sent: 1, Posts: 1})
	}
}

// refusingAddr is an address that refuses connections for the whole test. A closed listener's
// port would do until something else listens on it; this is the local port of an open outgoing
// connection instead, which no listener can take while the connection lives.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	out, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	in := <-accepted
	t.Cleanup(func() {
		out.Close()
		if in != nil {
			in.Close()
		}
	})
	if c, err := net.Dial("tcp", out.LocalAddr().String()); err == nil {
		c.Close()
		t.Fatalf("%s accepts connections", out.LocalAddr())
	}
	return out.LocalAddr().String()
}

// recordingHandler is a slog.Handler that keeps the messages logged through it.
type recordingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if strings.Contains(m, msg) {
			n++
		}
	}
	return n
}
