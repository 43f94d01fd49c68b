package webhooks

import (
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

func TestRetriesUnchangedWithBackoff(t *testing.T) {
	r := newReceiver(t, func(n int) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}, nil)
	h := start(t, testConfig(nil), Deps{}) // initial_backoff 1s, max_backoff 60s
	h.d.Emit(hookApp(configs.Webhook{URL: r.url()}), occupied("a"))
	h.clock.Advance(h.d.cfg.BatchWindow)

	var posts []post
	for failures := 1; failures <= 2; failures++ {
		posts = append(posts, r.next())
		h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == int64(failures) })
		// Back-off: initial_backoff doubled per earlier failure, less at most 20 % jitter.
		full := h.d.cfg.InitialBackoff << (failures - 1)
		if wait := h.retryIn(hookAppID, r.url()); wait > full || wait < full*8/10 {
			t.Fatalf("retry %d after %v, want within [%v, %v]", failures, wait, full*8/10, full)
		}
		h.clock.Advance(h.retryIn(hookAppID, r.url()))
	}
	posts = append(posts, r.next())
	h.waitStats(hookAppID, func(s Stats) bool { return s.Posts == 1 })
	for i, p := range posts {
		if wantStatus := []int{500, 500, 204}[i]; p.status != wantStatus {
			t.Fatalf("post %d: status %d, want %d", i, p.status, wantStatus)
		}
		if p.raw != posts[0].raw {
			t.Fatalf("retry %d changed the body:\n%s\n%s", i, posts[0].raw, p.raw)
		}
	}
	r.none()
	h.checkStats(hookAppID, Stats{Sent: 1, Posts: 1, Failed: 2, Retried: 2})
}

func TestBackoffDoublesUpToMaxLessJitter(t *testing.T) {
	none := func(int64) int64 { return 0 }
	most := func(n int64) int64 { return n - 1 }
	cases := []struct {
		failures int
		jitter   func(int64) int64
		want     time.Duration
	}{
		{1, none, time.Second},
		{2, none, 2 * time.Second},
		{3, none, 4 * time.Second},
		{4, none, 5 * time.Second},
		{60, none, 5 * time.Second}, // no overflow however long it fails
		{1, most, 800 * time.Millisecond},
		{4, most, 4 * time.Second},
	}
	for _, c := range cases {
		if got := backoff(time.Second, 5*time.Second, c.failures, c.jitter); got != c.want {
			t.Errorf("after %d failures: %v, want %v", c.failures, got, c.want)
		}
	}
}

// TestFailuresAreRetriedUntilRetryForThenDropped: an address that refuses connections is
// retried until retry_for after the first attempt, the last retry exactly then, and the batch
// is then dropped and logged. Failures are logged once per 10 s.
func TestFailuresAreRetriedUntilRetryForThenDropped(t *testing.T) {
	target := "http://user:s3cret@" + refusingAddr(t) + "/hook"
	h := start(t, testConfig(func(c *configs.WebhookDelivery) {
		// Every retry but the last is due before 10 s; the last is at retry_for, 10 s exactly.
		c.InitialBackoff, c.MaxBackoff, c.RetryFor = time.Second, 2*time.Second, 10*time.Second
	}), Deps{})
	app := hookApp(configs.Webhook{URL: target})
	h.d.Emit(app, occupied("a"))
	h.d.Emit(app, &protocol.WebhookEvent{Name: protocol.WebhookChannelVacated, Channel: "a"})
	h.clock.Advance(h.d.cfg.BatchWindow)
	first := h.clock.Now()

	var attempts []time.Duration
	for failed := int64(1); ; failed++ {
		s := h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == failed })
		attempts = append(attempts, h.clock.Since(first))
		if s.Dropped > 0 {
			break
		}
		if s.RetryBacklog != 2 || s.Queued != 2 {
			t.Fatalf("after %d failures: %+v", failed, s)
		}
		h.clock.Advance(h.retryIn(hookAppID, target))
	}
	if last := attempts[len(attempts)-1]; last != h.d.cfg.RetryFor {
		t.Errorf("attempts at %v: the last one should be at retry_for %v", attempts, h.d.cfg.RetryFor)
	}
	if window, retry := h.timersArmed(hookAppID, target); window || retry {
		t.Errorf("timers still set after the drop: window %v, retry %v", window, retry)
	}
	h.checkStats(hookAppID, Stats{Failed: int64(len(attempts)), Retried: int64(len(attempts) - 1), Dropped: 2})

	if lines := h.logs.with("given up after retrying"); len(lines) != 1 || lines[0].attrs["events"] != "2" {
		t.Errorf("give-up lines %+v, want one for 2 events", lines)
	}
	// Attempts at 0 and 10 s log; those in between are counted in the second line.
	lines := h.logs.with("webhook POST failed")
	if len(lines) != 2 {
		t.Fatalf("%d failure lines for attempts at %v, want 2", len(lines), attempts)
	}
	if got, want := lines[1].attrs["failures"], strconv.Itoa(len(attempts)-1); lines[0].attrs["failures"] != "1" || got != want {
		t.Errorf("failures per line %s, %s; want 1, %s", lines[0].attrs["failures"], got, want)
	}
	for _, l := range lines {
		if l.level != slog.LevelWarn || !strings.Contains(l.attrs["error"], "refused") ||
			strings.Contains(l.attrs["url"], "s3cret") || !strings.Contains(l.attrs["url"], "user:xxxxx@") {
			t.Errorf("failure line %+v: want WARN, the error, the URL with its password redacted", l)
		}
	}
	if len(h.logs.with("answers again")) != 0 {
		t.Error("a target that never answered logged a recovery")
	}
	// At debug, every attempt has its line, the redacted URL and the attempt's number included.
	attemptLines := h.logs.with("webhook POST attempt")
	if len(attemptLines) != len(attempts) {
		t.Fatalf("%d attempt lines for %d attempts", len(attemptLines), len(attempts))
	}
	for i, l := range attemptLines {
		if l.level != slog.LevelDebug || l.attrs["attempt"] != strconv.Itoa(i+1) || l.attrs["events"] != "2" ||
			!strings.Contains(l.attrs["error"], "refused") || strings.Contains(l.attrs["url"], "s3cret") {
			t.Errorf("attempt line %+v", l)
		}
	}
}

func TestTimeoutIsAFailure(t *testing.T) {
	r := newReceiver(t, nil, func(n int) bool { return n == 0 })
	h := start(t, testConfig(nil), Deps{})
	h.d.Emit(hookApp(configs.Webhook{URL: r.url()}), &protocol.WebhookEvent{Name: protocol.WebhookCacheMiss, Channel: "cache-a"})
	h.clock.Advance(h.d.cfg.BatchWindow)
	r.arrived()                      // the POST is held, its timeout running on the fake clock
	h.clock.Advance(h.d.cfg.Timeout) // and it ends
	if p := r.next(); p.status != -1 {
		t.Fatalf("first POST answered %d, want held until the client gave up", p.status)
	}
	h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == 1 })
	if lines := h.logs.with("webhook POST failed"); len(lines) != 1 || !strings.Contains(lines[0].attrs["error"], "timeout") {
		t.Fatalf("failure lines %+v", lines)
	}
	h.clock.Advance(h.retryIn(hookAppID, r.url()))
	if p := r.next(); p.status != http.StatusOK {
		t.Fatalf("retry answered %d", p.status)
	}
	h.waitStats(hookAppID, func(s Stats) bool { return s.Posts == 1 })
	h.checkStats(hookAppID, Stats{Sent: 1, Posts: 1, Failed: 1, Retried: 1})
}

func TestRedirectIsAFailure(t *testing.T) {
	r := newReceiver(t, func(n int) int {
		if n == 0 {
			return http.StatusFound // to /elsewhere, which the receiver would refuse as a wrong path
		}
		return http.StatusOK
	}, nil)
	h := start(t, testConfig(nil), Deps{})
	h.d.Emit(hookApp(configs.Webhook{URL: r.url()}), occupied("a"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	r.next()
	h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == 1 })
	if lines := h.logs.with("webhook POST failed"); len(lines) != 1 || lines[0].attrs["status"] != "302" {
		t.Fatalf("failure lines %+v, want one with status 302", lines)
	}
	r.none() // not followed
	h.clock.Advance(h.retryIn(hookAppID, r.url()))
	r.next()
	h.waitStats(hookAppID, func(s Stats) bool { return s.Posts == 1 })
	h.checkStats(hookAppID, Stats{Sent: 1, Posts: 1, Failed: 1, Retried: 1})
}

// TestFreshEventsGoBesideRetries: while a failed batch waits for its back-off, fresh batches go
// out at their normal pace; once the receiver answers, a fresh event is delivered within the
// batch window plus one POST, and the backlog then drains at once.
func TestFreshEventsGoBesideRetries(t *testing.T) {
	var up atomic.Bool
	r := newReceiver(t, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	}, nil)
	h := start(t, testConfig(func(c *configs.WebhookDelivery) { c.InitialBackoff = 30 * time.Second }), Deps{})
	app := hookApp(configs.Webhook{URL: r.url()})
	window := h.d.cfg.BatchWindow

	var failedBodies []string
	for i, channel := range []string{"a", "b"} {
		h.d.Emit(app, occupied(channel))
		h.clock.Advance(window) // far less than the back-off of the failed batch
		failedBodies = append(failedBodies, r.next().raw)
		h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == int64(i+1) })
	}
	h.checkStats(hookAppID, Stats{Failed: 2, Queued: 2, RetryBacklog: 2})

	up.Store(true)
	emitted := h.clock.Now()
	h.d.Emit(app, occupied("c"))
	h.clock.Advance(window)
	p := r.next()
	if got := p.field("channel"); !reflect.DeepEqual(got, []string{"c"}) || p.status != http.StatusOK {
		t.Fatalf("first POST after the receiver came back: %v, status %d; want the fresh event", got, p.status)
	}
	if waited := h.clock.Since(emitted); waited != window {
		t.Fatalf("fresh event delivered %v after it was emitted, want the batch window %v", waited, window)
	}
	// The success makes the backlog due now: both failed batches follow, oldest first, unchanged,
	// without the clock moving.
	for _, want := range failedBodies {
		if got := r.next().raw; got != want {
			t.Fatalf("retry body %s, want the failed one %s", got, want)
		}
	}
	h.waitStats(hookAppID, func(s Stats) bool { return s.Sent == 3 })
	h.checkStats(hookAppID, Stats{Sent: 3, Posts: 3, Failed: 2, Retried: 2})

	// The first failure was logged, the second (within 10 s) only counted; the recovery once.
	if lines := h.logs.with("webhook POST failed"); len(lines) != 1 || lines[0].attrs["status"] != "503" {
		t.Errorf("failure lines %+v", lines)
	}
	recovered := h.logs.with("answers again")
	if len(recovered) != 1 || recovered[0].level != slog.LevelInfo || recovered[0].attrs["failures_since_last_line"] != "1" {
		t.Errorf("recovery lines %+v, want one INFO counting the unlogged failure", recovered)
	}
}

// TestOneFreshAndOneRetryInFlight: a target has at most one fresh POST and one retry in flight;
// events emitted meanwhile wait for the fresh POST to end and go in one batch.
func TestOneFreshAndOneRetryInFlight(t *testing.T) {
	r := newReceiver(t, func(n int) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}, func(n int) bool { return n > 0 })
	h := start(t, testConfig(nil), Deps{})
	app := hookApp(configs.Webhook{URL: r.url()})
	window := h.d.cfg.BatchWindow

	h.d.Emit(app, occupied("a"))
	h.clock.Advance(window)
	r.arrived()
	r.next() // 500: "a" waits for its retry
	h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == 1 })
	h.d.Emit(app, occupied("b"))
	h.clock.Advance(window)
	r.arrived()                                    // the fresh POST of "b", held
	h.clock.Advance(h.retryIn(hookAppID, r.url())) // less than the POST timeout
	r.arrived()                                    // the retry of "a", held
	h.waitStats(hookAppID, func(s Stats) bool { return s.Retried == 1 })
	for _, c := range []string{"c", "d", "e"} {
		h.d.Emit(app, occupied(c))
		h.clock.Advance(window)
	}
	if window, retry := h.timersArmed(hookAppID, r.url()); window || retry {
		t.Fatalf("with both POSTs in flight: window timer %v, retry timer %v; want neither", window, retry)
	}
	if n := r.inFlight.Load(); n != 2 {
		t.Fatalf("%d POSTs in flight, want 2", n)
	}
	close(r.release)
	h.waitStats(hookAppID, func(s Stats) bool { return s.Sent == 5 })
	var batches [][]string
	for range 3 {
		batches = append(batches, r.next().field("channel"))
	}
	if !slicesHave(batches, []string{"c", "d", "e"}) || !slicesHave(batches, []string{"b"}) || !slicesHave(batches, []string{"a"}) {
		t.Fatalf("batches %v, want [a] [b] [c d e] in some order", batches)
	}
	if m := r.maxInFlight.Load(); m != 2 {
		t.Fatalf("at most %d POSTs in flight, want 2", m)
	}
	h.checkStats(hookAppID, Stats{Sent: 5, Posts: 3, Failed: 1, Retried: 1})
}

func slicesHave(all [][]string, want []string) bool {
	for _, s := range all {
		if reflect.DeepEqual(s, want) {
			return true
		}
	}
	return false
}

// TestFreshBatchesKeepOrder: fresh batches go one at a time, in order, at most
// batch_max_events each.
func TestFreshBatchesKeepOrder(t *testing.T) {
	r := newReceiver(t, nil, func(n int) bool { return n == 0 })
	h := start(t, testConfig(func(c *configs.WebhookDelivery) { c.BatchMaxEvents = 2 }), Deps{})
	app := hookApp(configs.Webhook{URL: r.url()})
	h.d.Emit(app, occupied("a"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	r.arrived() // hold "a" until the rest is queued behind it
	for _, c := range []string{"b", "c", "d", "e", "f"} {
		h.d.Emit(app, occupied(c))
	}
	close(r.release)
	h.waitStats(hookAppID, func(s Stats) bool { return s.Sent == 5 }) // "f" waits for its window
	h.clock.Advance(h.d.cfg.BatchWindow)
	h.waitStats(hookAppID, func(s Stats) bool { return s.Sent == 6 })
	var got [][]string
	for range 4 {
		got = append(got, r.next().field("channel"))
	}
	r.none()
	if want := [][]string{{"a"}, {"b", "c"}, {"d", "e"}, {"f"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	if m := r.maxInFlight.Load(); m != 1 {
		t.Fatalf("%d POSTs in flight at once, want 1", m)
	}
	h.checkStats(hookAppID, Stats{Sent: 6, Posts: 4})
}

func TestStuckTargetDoesNotBlockOthers(t *testing.T) {
	stuck := newReceiver(t, nil, func(int) bool { return true })
	ok := newReceiver(t, nil, nil)
	h := start(t, testConfig(nil), Deps{})
	app := hookApp(configs.Webhook{URL: stuck.url()}, configs.Webhook{URL: ok.url()})
	h.d.Emit(app, occupied("a"))
	h.d.Emit(app, &protocol.WebhookEvent{Name: protocol.WebhookChannelVacated, Channel: "a"})
	h.clock.Advance(h.d.cfg.BatchWindow)
	stuck.arrived()
	if got := ok.next().field("name"); !reflect.DeepEqual(got, []string{"channel_occupied", "channel_vacated"}) {
		t.Fatalf("healthy target got %v", got)
	}
	h.waitStats(hookAppID, func(s Stats) bool { return s.Sent == 2 && s.Queued == 2 })
}

// TestFailureLogsOncePerInterval: failures log at most once per target per 10 s with the count
// since the last line; a recovery logs one INFO line only after a failure line.
func TestFailureLogsOncePerInterval(t *testing.T) {
	var up atomic.Bool
	r := newReceiver(t, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusBadGateway
	}, nil)
	h := start(t, testConfig(func(c *configs.WebhookDelivery) { c.MaxBackoff = time.Second }), Deps{})
	app := hookApp(configs.Webhook{URL: r.url()})
	fail := func(failed int64) {
		t.Helper()
		r.next()
		h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == failed })
	}
	h.d.Emit(app, occupied("a"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	fail(1) // logged
	for failed := int64(2); failed <= 5; failed++ {
		h.clock.Advance(h.retryIn(hookAppID, r.url())) // at most 1 s apart
		fail(failed)
	}
	h.clock.Advance(logInterval) // the retry is due well before; the next failure logs
	fail(6)
	lines := h.logs.with("webhook POST failed")
	if len(lines) != 2 || lines[0].attrs["failures"] != "1" || lines[1].attrs["failures"] != "5" {
		t.Fatalf("failure lines %+v, want 2 with 1 and 5 failures", lines)
	}

	up.Store(true)
	h.clock.Advance(h.retryIn(hookAppID, r.url()))
	r.next()
	h.waitStats(hookAppID, func(s Stats) bool { return s.Posts == 1 })
	if got := h.logs.with("answers again"); len(got) != 1 {
		t.Fatalf("recovery lines %+v, want 1", got)
	}

	// Failing again within 10 s of the last failure line: counted, not logged, and its
	// recovery is silent too.
	up.Store(false)
	h.d.Emit(app, occupied("b"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	fail(7)
	up.Store(true)
	h.clock.Advance(h.retryIn(hookAppID, r.url()))
	r.next()
	h.waitStats(hookAppID, func(s Stats) bool { return s.Posts == 2 })
	if n, m := len(h.logs.with("webhook POST failed")), len(h.logs.with("answers again")); n != 2 || m != 1 {
		t.Fatalf("%d failure and %d recovery lines after a quiet flap, want 2 and 1", n, m)
	}
}
