package transport

import (
	"io"
	"sync"
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

// A socket's queue arrays keep their size under a steady backlog (a turn then allocates
// nothing), and let go of what a burst grew them to once turns are small again, so memory
// follows the backlog now, not the largest one the socket ever had.
func TestQueueArraysShrinkAfterABurst(t *testing.T) {
	w, r := tcpPair(t)
	go func() { _, _ = io.Copy(io.Discard, r) }()
	ws := &writers{}
	ws.cond = sync.NewCond(&ws.mu) // no writer goroutines: the test runs each turn itself
	sock := &socket{net: w, raw: rawOf(t, w), server: &Server{writers: ws}, limit: 64 << 20}
	var raw rawWriter
	frame := wireText([]byte("x"))
	turn := func(frames int) {
		for range frames {
			sock.enqueue(frame, time.Time{})
		}
		sock.flush(&raw)
	}
	arrays := func() int {
		sock.mu.Lock()
		defer sock.mu.Unlock()
		return cap(sock.queue) + cap(sock.spare)
	}

	for range 4 {
		turn(1000)
	}
	if got := arrays(); got < 2000 {
		t.Fatalf("after turns of 1,000 frames the arrays hold %d slots; want both kept (>= 2,000)", got)
	}
	// The same two arrays serve every turn of the backlog: no turn allocates a new one.
	pair := func() [2]*[]byte {
		sock.mu.Lock()
		defer sock.mu.Unlock()
		return [2]*[]byte{&sock.queue[:1][0], &sock.spare[:1][0]}
	}
	before := pair()
	for range 4 {
		turn(1000)
	}
	if after := pair(); after != before && after != [2]*[]byte{before[1], before[0]} {
		t.Error("turns of 1,000 frames under a steady backlog replaced the queue arrays")
	}
	for range 3 {
		turn(1)
	}
	if got := arrays(); got > 2*spareAlwaysKept {
		t.Fatalf("after small turns the arrays still hold %d slots; want at most %d", got, 2*spareAlwaysKept)
	}
}
