package transport

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// writers are the goroutines that write every plain-TCP socket's frames: a fixed pool, so that a
// burst of writes starts no goroutine, and a socket that is not writing holds none. A socket with
// frames queued is put on the ready list once; a writer takes it, writes everything it has queued
// in one writev, and puts it back if more came meanwhile. Under a backlog a socket's frames pile
// up between two turns and go out together, so the cost per frame falls as the load rises.
//
// A writer never waits on one socket: its writev (writev.go) writes what the kernel takes at once;
// a socket whose client reads too slowly keeps what was not written and is retried retryDelay
// later, and is closed as a slow consumer once its queue passes write_queue_bytes.
type writers struct {
	mu     sync.Mutex
	cond   *sync.Cond
	ready  []*socket
	idle   int  // writers waiting on cond
	waking bool // a Signal is on its way to an idle writer, which has not run yet
	stop   bool

	delay   delayWindow  // how long the frames written lately had waited
	written atomic.Int64 // bytes written so far, for the backpressure's pace
}

const (
	writeSlice = 10 * time.Millisecond // bounds the last write of a socket closed at once
	retryDelay = 5 * time.Millisecond
)

func newWriters() *writers {
	w := &writers{}
	w.cond = sync.NewCond(&w.mu)
	for range max(4, 2*runtime.GOMAXPROCS(0)) {
		go w.run()
	}
	return w
}

// schedule puts s on the ready list; the caller has marked it scheduled.
//
// At most one idle writer is being woken at a time: a fan-out that schedules a thousand sockets
// wakes one writer, and each writer that finds more on the list wakes the next. A wake per
// socket would cost a futex call each, and each woken goroutine takes the scheduler's next slot
// on the fan-out's core, pushing back whatever was waiting there (the churn's member events
// waited tens of milliseconds so in a scheduler trace).
func (w *writers) schedule(s *socket) {
	w.mu.Lock()
	w.ready = append(w.ready, s)
	wake := w.wakeOneLocked()
	w.mu.Unlock()
	if wake {
		w.cond.Signal()
	}
}

// wakeOneLocked tells whether to Signal an idle writer for the ready list: there is one, and no
// wake is already on its way.
func (w *writers) wakeOneLocked() bool {
	if len(w.ready) == 0 || w.idle == 0 || w.waking {
		return false
	}
	w.waking = true
	return true
}

// scheduleAfter puts s on the ready list after d: a socket whose client did not take all it had.
func (w *writers) scheduleAfter(s *socket, d time.Duration) {
	time.AfterFunc(d, func() { w.schedule(s) })
}

func (w *writers) run() {
	var raw rawWriter
	for {
		w.mu.Lock()
		for len(w.ready) == 0 && !w.stop {
			w.idle++
			w.cond.Wait()
			w.idle--
			w.waking = false // the wake arrived (only a Signal or the stop's Broadcast wakes)
		}
		if w.stop {
			w.mu.Unlock()
			return
		}
		s := w.ready[0]
		w.ready[0] = nil
		w.ready = w.ready[1:]
		if len(w.ready) == 0 {
			w.ready = w.ready[:0:0] // let the backing array go after a burst
		}
		wake := w.wakeOneLocked() // more on the list: the next writer, one at a time
		w.mu.Unlock()
		if wake {
			w.cond.Signal()
		}
		s.flush(&raw)
	}
}

func (w *writers) close() {
	w.mu.Lock()
	w.stop = true
	w.mu.Unlock()
	w.cond.Broadcast()
}

// delayWindow keeps, over the current and the previous window of delaySpan, how long after herald
// took their events the frames written went out: how far behind the node is, for the HTTP API
// to push back on publishers when they outrun what the node can write.
//
// A socket whose client does not read (stalled) waits on its client, not on herald: its wait is
// kept apart and counts only when most of the sockets written lately are stalled, stalledMin of
// them at least. One slow client is a slow consumer, closed at write_queue_bytes, and must not
// hold back every publisher; but when the clients at large (or the network) stop taking frames,
// the node is behind all the same, and publishers must slow down.
type delayWindow struct {
	mu        sync.Mutex
	start     time.Time
	seq       uint64 // counts the windows: a stalled socket's mark of the one it was counted in
	cur, prev windowDelays
}

// windowDelays is one window's longest delays and how many writes and stalled sockets they
// come from.
type windowDelays struct {
	written, stalled   time.Duration // longest delay of a write; of a stalled socket's wait
	writes, stalledNum int           // writes to sockets whose clients read; stalled sockets, each once
}

const (
	delaySpan  = 200 * time.Millisecond
	stalledMin = 16
)

// observe counts a write whose oldest frame herald took delay ago.
func (d *delayWindow) observe(now time.Time, delay time.Duration) {
	d.mu.Lock()
	d.rollLocked(now)
	d.cur.written = max(d.cur.written, delay)
	d.cur.writes++
	d.mu.Unlock()
}

// observeStalled counts a stalled socket whose oldest frame herald took delay ago; counted is
// the socket's own mark of the window (seq) it was last counted in, guarded by d's lock, so that
// its retries every retryDelay count it once per window.
func (d *delayWindow) observeStalled(now time.Time, delay time.Duration, counted *uint64) {
	d.mu.Lock()
	d.rollLocked(now)
	d.cur.stalled = max(d.cur.stalled, delay)
	if *counted != d.seq {
		*counted = d.seq
		d.cur.stalledNum++
	}
	d.mu.Unlock()
}

func (d *delayWindow) rollLocked(now time.Time) {
	since := now.Sub(d.start)
	if since < delaySpan {
		return
	}
	d.prev = d.cur
	if since >= 2*delaySpan {
		d.prev = windowDelays{} // nothing was written for a whole window
	}
	d.cur = windowDelays{}
	d.start = now
	d.seq++ // never 0 once rolled: a socket's zero mark counts it in the first window too
}

// current is the longest delay of the last one or two windows.
func (d *delayWindow) current(now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rollLocked(now)
	delay := max(d.cur.written, d.prev.written)
	if stalled := d.cur.stalledNum + d.prev.stalledNum; stalled >= stalledMin && stalled > d.cur.writes+d.prev.writes {
		delay = max(delay, d.cur.stalled, d.prev.stalled)
	}
	return delay
}
