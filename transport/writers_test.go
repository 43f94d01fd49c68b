package transport

import (
	"testing"
	"time"
)

// A stalled socket's wait is its client's: it counts as the node being behind only when most of
// the sockets written lately are stalled, stalledMin at least. One slow client retried every
// retryDelay counts once per window and does not make the node behind; the clients at large
// stalled do.
func TestDelayWindowCountsStalledSocketsOnlyWhenMostAre(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	var d delayWindow
	d.observe(t0, 10*time.Millisecond)
	var one uint64
	for i := range 40 { // one slow client, retried for the whole window
		d.observeStalled(t0.Add(time.Duration(i)*retryDelay), time.Hour, &one)
	}
	if got := d.current(t0.Add(199 * time.Millisecond)); got != 10*time.Millisecond {
		t.Fatalf("one stalled socket: delay %v, want the 10ms of the write", got)
	}

	marks := make([]uint64, stalledMin)
	for i := range marks { // as many stalled sockets as the window needs, more than the writes
		d.observeStalled(t0.Add(time.Millisecond), time.Hour, &marks[i])
	}
	if got := d.current(t0.Add(199 * time.Millisecond)); got != time.Hour {
		t.Fatalf("%d stalled sockets and 1 write: delay %v, want the stalled hour", stalledMin+1, got)
	}

	var e delayWindow
	for range 2 * stalledMin {
		e.observe(t0, 10*time.Millisecond)
	}
	for i := range marks {
		marks[i] = 0
		e.observeStalled(t0, time.Hour, &marks[i])
	}
	if got := e.current(t0); got != 10*time.Millisecond {
		t.Fatalf("%d stalled sockets and %d writes: delay %v, want the writes' 10ms", stalledMin, 2*stalledMin, got)
	}

	// Both windows pass: nothing is behind any more.
	if got := d.current(t0.Add(2 * delaySpan)); got != 0 {
		t.Fatalf("two quiet windows later: delay %v, want 0", got)
	}
}
