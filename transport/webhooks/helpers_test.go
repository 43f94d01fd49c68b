package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

// Delivery is what the actors emit webhook events to.
var _ node.WebhookSink = (*Delivery)(nil)

const (
	hookAppID  = "hook-app"
	hookKey    = "hook-key"
	hookSecret = "hook-secret"
	// waitLimit bounds every wait of a test for something the code under test does; it is a
	// failure guard, never a timer the code relies on.
	waitLimit = 10 * time.Second
)

// epoch is where every fake clock starts: time_ms in bodies are known.
var epoch = time.UnixMilli(1_700_000_000_000)

// hookApp is an app with the given webhook targets.
func hookApp(targets ...configs.Webhook) *configs.App {
	a := configs.DefaultApp(hookAppID, hookKey, hookSecret)
	a.Webhooks = targets
	return &a
}

// testConfig is default.yaml's webhooks section with changes.
func testConfig(change func(*configs.WebhookDelivery)) configs.WebhookDelivery {
	cfg := configs.Default().Webhooks
	if change != nil {
		change(&cfg)
	}
	return cfg
}

// harness is one Delivery on a fake clock, with its logs recorded.
type harness struct {
	t     testing.TB
	d     *Delivery
	clock *clockwork.FakeClock
	logs  *logRecorder
	steps chan struct{}
}

func start(t testing.TB, cfg configs.WebhookDelivery, deps Deps) *harness {
	t.Helper()
	h := &harness{t: t, clock: clockwork.NewFakeClockAt(epoch), logs: newLogRecorder(), steps: make(chan struct{}, 1)}
	deps.Clock = h.clock
	if deps.Logger == nil {
		deps.Logger = slog.New(h.logs)
	}
	h.d = New(cfg, deps)
	h.d.afterStep = func() {
		select {
		case h.steps <- struct{}{}:
		default:
		}
	}
	t.Cleanup(func() {
		h.d.Close()
		checkNothingRunning(t)
	})
	return h
}

// waitStats waits until app's Stats satisfy cond, re-checking after every turn of a target loop.
func (h *harness) waitStats(appID string, cond func(Stats) bool) Stats {
	h.t.Helper()
	limit := time.After(waitLimit)
	for {
		s := h.d.Stats(appID)
		if cond(s) {
			return s
		}
		select {
		case <-h.steps:
		case <-limit:
			h.t.Fatalf("stats of %s stay %+v", appID, s)
		}
	}
}

func (h *harness) checkStats(appID string, want Stats) {
	h.t.Helper()
	if got := h.d.Stats(appID); got != want {
		h.t.Fatalf("stats of %s: %+v, want %+v", appID, got, want)
	}
}

// targetOf is the running target of app id and URL.
func (h *harness) targetOf(appID, url string) *target {
	h.t.Helper()
	t := h.d.index.Load().targets[targetKey{appID, url}]
	if t == nil {
		h.t.Fatalf("no target %s %s", appID, url)
	}
	return t
}

// retryIn is how long until the target's retry timer fires; it fails the test if none is set.
func (h *harness) retryIn(appID, url string) time.Duration {
	h.t.Helper()
	t := h.targetOf(appID, url)
	t.mu.Lock()
	at := t.retry.at
	t.mu.Unlock()
	if at.IsZero() {
		h.t.Fatal("no retry timer set")
	}
	return at.Sub(h.clock.Now())
}

// timersArmed tells whether the target's batch window and retry timers are set.
func (h *harness) timersArmed(appID, url string) (window, retry bool) {
	t := h.targetOf(appID, url)
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.window.at.IsZero(), !t.retry.at.IsZero()
}

// flush flushes with a bound and fails the test on an error.
func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := h.d.Flush(ctx); err != nil {
		h.t.Fatalf("flush: %v", err)
	}
}

// receiver is a webhook endpoint that checks each POST as pusher.webhook(req).isValid() does,
// with its own HMAC code, and answers as its script says.
type receiver struct {
	t           *testing.T
	srv         *httptest.Server
	key, secret string
	answer      func(n int) int  // the status of the n-th request (from 0); default 200
	hold        func(n int) bool // hold it until release is closed or the client gives up
	release     chan struct{}
	arrivals    chan int  // every request as it arrives
	posts       chan post // every request as it is answered
	seq         atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	closing     chan struct{}
}

type post struct {
	n           int
	status      int // -1: held until the client gave up
	raw         string
	body        body
	traceparent string
}

type body struct {
	TimeMS int64             `json:"time_ms"`
	Events []json.RawMessage `json:"events"`
}

// event decodes the i-th event of the body.
func (p post) event(i int) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(p.body.Events[i], &m); err != nil {
		panic(err)
	}
	return m
}

// field is one field of every event of the body, in order.
func (p post) field(name string) []string {
	var out []string
	for i := range p.body.Events {
		out = append(out, fmt.Sprint(p.event(i)[name]))
	}
	return out
}

func newReceiver(t *testing.T, answer func(int) int, hold func(int) bool) *receiver {
	t.Helper()
	if answer == nil {
		answer = func(int) int { return http.StatusOK }
	}
	if hold == nil {
		hold = func(int) bool { return false }
	}
	r := &receiver{
		t: t, key: hookKey, secret: hookSecret, answer: answer, hold: hold,
		release: make(chan struct{}), arrivals: make(chan int, 1000), posts: make(chan post, 100),
		closing: make(chan struct{}),
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		close(r.closing)
		r.srv.Close()
	})
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/pusher/webhook" }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	n := int(r.seq.Add(1) - 1)
	now := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for m := r.maxInFlight.Load(); now > m && !r.maxInFlight.CompareAndSwap(m, now); m = r.maxInFlight.Load() {
	}
	select {
	case r.arrivals <- n:
	default: // a test that counts arrivals makes far fewer POSTs than the channel holds
	}
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		if req.Context().Err() == nil {
			r.t.Errorf("post %d: read body: %v", n, err)
		}
		return // or the client gave up: a Close during the POST
	}
	if req.Method != http.MethodPost || req.URL.Path != "/pusher/webhook" {
		r.t.Errorf("post %d: %s %s", n, req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("post %d: Content-Type %q", n, ct)
	}
	if key := req.Header.Get("X-Pusher-Key"); key != r.key {
		r.t.Errorf("post %d: X-Pusher-Key %q, want %q", n, key, r.key)
	}
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write(raw)
	want := hex.EncodeToString(mac.Sum(nil))
	if got := req.Header.Get("X-Pusher-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		r.t.Errorf("post %d: X-Pusher-Signature %q, want %q", n, got, want)
	}
	p := post{n: n, raw: string(raw), traceparent: req.Header.Get("traceparent")}
	if err := json.Unmarshal(raw, &p.body); err != nil {
		r.t.Errorf("post %d: body %s: %v", n, raw, err)
	}
	if r.hold(n) {
		select {
		case <-r.release:
		case <-req.Context().Done():
			p.status = -1
		case <-r.closing:
			p.status = -1
		}
		if p.status == -1 {
			r.posts <- p
			return
		}
	}
	// Recorded before the answer: once the client has it, a test can take the post.
	p.status = r.answer(n)
	r.posts <- p
	if p.status >= 300 && p.status < 400 {
		w.Header().Set("Location", "/elsewhere")
	}
	w.WriteHeader(p.status)
}

func (r *receiver) next() post {
	r.t.Helper()
	select {
	case p := <-r.posts:
		return p
	case <-time.After(waitLimit):
		r.t.Fatal("no webhook POST")
		return post{}
	}
}

func (r *receiver) arrived() int {
	r.t.Helper()
	select {
	case n := <-r.arrivals:
		return n
	case <-time.After(waitLimit):
		r.t.Fatal("no webhook POST arrived")
		return 0
	}
}

// none asserts that no POST was answered beyond those taken. Call it once the delivery has
// settled (Stats show every POST's outcome, or after Flush or Close).
func (r *receiver) none() {
	r.t.Helper()
	select {
	case p := <-r.posts:
		r.t.Fatalf("unexpected POST %d: %s", p.n, p.raw)
	default:
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

// logRecorder is a slog.Handler that keeps the records logged through it, with their attributes.
type logRecorder struct {
	store *logStore
	attrs []slog.Attr
}

type logStore struct {
	mu    sync.Mutex
	lines []logLine
}

type logLine struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newLogRecorder() *logRecorder { return &logRecorder{store: &logStore{}} }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	line := logLine{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		line.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line.attrs[a.Key] = a.Value.String()
		return true
	})
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	h.store.lines = append(h.store.lines, line)
	return nil
}

func (h *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logRecorder{store: h.store, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// with returns the lines whose message contains msg.
func (h *logRecorder) with(msg string) []logLine {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	var out []logLine
	for _, l := range h.store.lines {
		if strings.Contains(l.msg, msg) {
			out = append(out, l)
		}
	}
	return out
}

func int64Ptr(n int64) *int64 { return &n }

func occupied(channel string) *protocol.WebhookEvent {
	return &protocol.WebhookEvent{Name: protocol.WebhookChannelOccupied, Channel: channel}
}
