// Package nodetest has what tests of the actors need: a fake clock whose timers fire before
// Advance returns, a socket that records what it is sent, and a webhook sink that records events.
package nodetest

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

// Clock is a fake clock for the actors. clockwork's fake clock runs an AfterFunc callback in a
// goroutine of its own, so a test could not tell when a timer's message reached its actor.
// Clock runs the callbacks of the timers that came due inside Advance, in the order they came
// due: when Advance returns, every message they send is in its actor's mailbox, and a request
// to that actor afterwards is answered after it.
type Clock struct {
	*clockwork.FakeClock
	mu     sync.Mutex
	timers []*syncTimer
}

// NewClock is a Clock at the current time, truncated to whole seconds (as HTTP API timestamps are).
func NewClock() *Clock {
	return &Clock{FakeClock: clockwork.NewFakeClockAt(time.Now().Truncate(time.Second))}
}

type syncTimer struct {
	clockwork.Timer
	clock *Clock
	f     func()
}

// Stop stops the timer; its callback will not run.
func (t *syncTimer) Stop() bool {
	t.clock.remove(t)
	return t.Timer.Stop()
}

// AfterFunc implements clockwork.Clock.
func (c *Clock) AfterFunc(d time.Duration, f func()) clockwork.Timer {
	t := &syncTimer{Timer: c.FakeClock.NewTimer(d), clock: c, f: f}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return t
}

func (c *Clock) remove(t *syncTimer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.timers, t); i >= 0 {
		c.timers = slices.Delete(c.timers, i, i+1)
	}
}

// Advance moves the clock by d and runs the callbacks of the timers that came due.
func (c *Clock) Advance(d time.Duration) {
	c.FakeClock.Advance(d)
	type due struct {
		at time.Time
		f  func()
	}
	var fired []due
	c.mu.Lock()
	kept := c.timers[:0]
	for _, t := range c.timers {
		select {
		case at := <-t.Chan():
			fired = append(fired, due{at, t.f})
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	slices.SortStableFunc(fired, func(a, b due) int { return a.at.Compare(b.at) })
	for _, d := range fired {
		d.f()
	}
}

// Sink records what the actors write to one socket.
type Sink struct {
	frames chan []byte
	closed chan int
	taken  chan time.Time // each shared frame's Taken, in order
}

// NewSink is a socket with room for 1,024 frames.
func NewSink() *Sink {
	return &Sink{frames: make(chan []byte, 1024), closed: make(chan int, 1), taken: make(chan time.Time, 1024)}
}

// Send implements node.Sink.
func (s *Sink) Send(frame []byte) { s.frames <- frame }

// SendShared implements node.Sink.
func (s *Sink) SendShared(f *node.Frame) {
	select {
	case s.taken <- f.Taken:
	default: // a test that never asks keeps only the first 1,024
	}
	s.frames <- f.Payload
}

// Taken is the Taken of the next shared frame the sink got (when herald took its event, on the
// real clock), within 5 s.
func (s *Sink) Taken(t testing.TB) time.Time {
	t.Helper()
	return within(t, s.taken, "no shared frame within 5 s")
}

// Close implements node.Sink.
func (s *Sink) Close(code int, _ string) { s.closed <- code }

// Frame is a frame as a client decodes it.
type Frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
	Raw     []byte          `json:"-"`
}

// DataString is the frame's data decoded from its JSON string.
func (f Frame) DataString(t testing.TB) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(f.Data, &s); err != nil {
		t.Fatalf("data of %s is not a string: %v", f.Raw, err)
	}
	return s
}

// Next is the next frame, within 5 s.
func (s *Sink) Next(t testing.TB) Frame {
	t.Helper()
	f, ok := s.NextWithin(t, 5*time.Second)
	if !ok {
		t.Fatal("no frame within 5s")
	}
	return f
}

// NextWithin is the next frame, if one comes within d.
func (s *Sink) NextWithin(t testing.TB, d time.Duration) (Frame, bool) {
	t.Helper()
	select {
	case b := <-s.frames:
		f := Frame{Raw: b}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		return f, true
	case <-time.After(d):
		return Frame{}, false
	}
}

// Until reads frames until event arrives (within 20 s) and returns those before it.
func (s *Sink) Until(t testing.TB, event string) []Frame {
	t.Helper()
	var before []Frame
	for {
		f, ok := s.NextWithin(t, 20*time.Second)
		if !ok {
			t.Fatalf("no %s within 20s; got %d frames before", event, len(before))
		}
		if f.Event == event {
			return before
		}
		before = append(before, f)
	}
}

// Expect is the next frame, which must be event.
func (s *Sink) Expect(t testing.TB, event string) Frame {
	t.Helper()
	f := s.Next(t)
	if f.Event != event {
		t.Fatalf("got %s, want %s", f.Raw, event)
	}
	return f
}

// Empty asserts that nothing was written. Call it after a round trip through the actors that
// would have written (a channel query orders behind everything sent to the grain before it).
func (s *Sink) Empty(t testing.TB) {
	t.Helper()
	select {
	case b := <-s.frames:
		t.Fatalf("unexpected frame %s", b)
	case code := <-s.closed:
		t.Fatalf("unexpected close %d", code)
	default:
	}
}

// Closed is the close code the socket was closed with, within 5 s.
func (s *Sink) Closed(t testing.TB) int {
	t.Helper()
	return within(t, s.closed, "socket not closed within 5s")
}

// within is the next value on ch, or the test fails with failure after 5 s.
func within[T any](t testing.TB, ch <-chan T, failure string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal(failure)
		var zero T
		return zero
	}
}

// Webhooks records the webhook events the actors emit, in order.
type Webhooks struct {
	mu     sync.Mutex
	events []protocol.WebhookEvent
}

// Emit implements node.WebhookSink.
func (w *Webhooks) Emit(_ *configs.App, ev *protocol.WebhookEvent) {
	w.mu.Lock()
	w.events = append(w.events, *ev)
	w.mu.Unlock()
}

// Take returns the events emitted since the last Take.
func (w *Webhooks) Take() []protocol.WebhookEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.events
	w.events = nil
	return out
}
