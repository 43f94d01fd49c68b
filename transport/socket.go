package transport

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
)

// socket is one client WebSocket: the actors' Sink, with a write queue bounded in bytes. Its
// frames are kept in wire form (framed once per event: node.Frame) and written in one writev per
// turn: by the shared writers for a plain TCP socket, by a drain on gws's per-connection task
// queue for a TLS one (a TLS stream cannot be written without waiting). gws writes
// nothing for the socket but its own close on a protocol error and the answer to a client's
// close; each write is one Write call, which the net package keeps whole.
type socket struct {
	conn   *gws.Conn
	net    net.Conn
	raw    syscall.RawConn // its file descriptor (nil for TLS): the writers write it with writev
	server *Server
	app    *actors.App
	actor  *actors.Connection
	key    string // the app key it connected with: a reload may change or remove it

	lastSeen    atomic.Int64 // unix nanos of the last message read
	closeCode   atomic.Int32 // the close code herald sent, 0 when the client closed
	closeReason atomic.Pointer[string]
	pingSent    atomic.Int64 // unix nanos of our pusher:ping to a silent client, 0 when none

	mu      sync.Mutex
	queue   net.Buffers // wire frames not yet written, oldest first (the first may be partly written)
	spare   net.Buffers // the other half of the double buffer a turn swaps with queue
	queued  int         // bytes in queue
	since   time.Time   // when herald took the oldest queued frame's event (or queued the frame)
	stalled bool        // the client did not take all of the last turn: its frames wait on it, not on herald
	// stallCounted is the delay window (its seq) in which the writers last counted this socket
	// stalled; guarded by the window's lock, not mu. 8 bytes, where a time.Time took 24.
	stallCounted uint64
	scheduled    bool      // on the writers' ready list or being written
	closing      bool      // no more frames: a close is queued after them
	closeWith    []byte    // that close frame
	closingAt    time.Time // when the close began: the queue gets closeWriteTimeout to go out
	discard      bool      // the close drops the queue: a turn in progress keeps nothing back
	closed       bool      // the close frame was written
	limit        int
}

func newSocket(s *Server, conn *gws.Conn) *socket {
	sock := &socket{conn: conn, net: conn.NetConn(), server: s, limit: s.cfg.WriteQueueBytes}
	if tc, ok := sock.net.(*net.TCPConn); ok && s.cfg.SocketSendBuffer > 0 {
		_ = tc.SetWriteBuffer(s.cfg.SocketSendBuffer)
	}
	if sc, ok := sock.net.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			sock.raw = raw
		}
	}
	return sock
}

// Send implements actors.Sink: a frame for this socket alone.
func (s *socket) Send(frame []byte) { s.enqueue(wireText(frame), time.Time{}) }

// SendShared implements actors.Sink: a frame framed once for every socket it goes to.
func (s *socket) SendShared(f *node.Frame) { s.enqueue(f.Wire(wireText), f.Taken) }

// enqueue queues a frame whose event herald took at taken (zero: now).
func (s *socket) enqueue(wire []byte, taken time.Time) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if s.queued+len(wire) > s.limit {
		s.mu.Unlock()
		if s.app != nil {
			s.app.Metrics.AddSlowConsumerDisconnect()
		}
		s.closeNow(protocol.CodeWriteQueueFull, "slow consumer: write queue full")
		return
	}
	if len(s.queue) == 0 {
		if taken.IsZero() {
			taken = time.Now() // queueing delay: the real clock, as the writes themselves
		}
		s.since = taken
	} else if !taken.IsZero() && taken.Before(s.since) {
		s.since = taken // an event taken earlier, queued later (another channel's)
	}
	s.queue = append(s.queue, wire)
	s.queued += len(wire)
	s.scheduleLocked()
	s.mu.Unlock()
}

// scheduleLocked gets the socket written soon, once.
func (s *socket) scheduleLocked() {
	if s.scheduled {
		return
	}
	s.scheduled = true
	if s.raw != nil {
		s.server.writers.schedule(s)
	} else {
		s.conn.Async(s.drainTLS)
	}
}

// flush is one writer's turn on a plain socket: everything queued, in one writev that does not
// wait; what the kernel did not take stays first in the queue for a turn retryDelay later.
func (s *socket) flush(w *rawWriter) {
	s.mu.Lock()
	batch, since, stalled := s.queue, s.since, s.stalled
	s.queue, s.spare = s.spare[:0], nil
	s.mu.Unlock()

	if len(batch) > 0 {
		if now := time.Now(); !stalled {
			s.server.writers.delay.observe(now, now.Sub(since)) // how far behind herald is
		} else {
			// Waiting on its client (delayWindow says when that counts).
			s.server.writers.delay.observeStalled(now, now.Sub(since), &s.stallCounted)
		}
		whole := batch // writev consumes batch from the front, and with it batch's capacity
		n, err := w.writev(s.raw, &batch)
		s.server.writers.written.Add(n)
		s.mu.Lock()
		s.queued -= int(n)
		if errors.Is(err, errWouldBlock) {
			if s.closing && time.Since(s.closingAt) > closeWriteTimeout {
				s.failLocked() // closing, and the client still does not read: drop it
				s.mu.Unlock()
				return
			}
			// The client reads slowly: what is left goes first next time (unless a close
			// dropped the queue meanwhile).
			if !s.discard {
				s.queue = append(batch, s.queue...)
				s.since = since
			}
			s.stalled = true
			s.mu.Unlock()
			s.server.writers.scheduleAfter(s, retryDelay)
			return
		}
		if err != nil {
			s.failLocked()
			s.mu.Unlock()
			return
		}
		if s.spare == nil {
			s.spare = keptForNextTurn(whole) // every frame written: writev cleared them
		}
		s.stalled = false
		s.mu.Unlock()
	}
	s.afterTurn()
}

// keptForNextTurn is the array a turn wrote from, emptied for the next turn to queue into, or
// nil when a burst had grown it far beyond this turn's frames: an array kept at the largest
// burst a socket ever saw would hold that memory for the socket's life (at 10,000 sockets, tens
// of MB under an overload that has passed). Under a steady backlog each turn fills a good part of
// its array, so the array is kept and a turn allocates nothing.
func keptForNextTurn(written net.Buffers) net.Buffers {
	if cap(written) > spareAlwaysKept && len(written)*spareShrinkRatio < cap(written) {
		return nil
	}
	return written[:0]
}

const (
	spareAlwaysKept  = 16 // frames: an array this small is always kept (384 bytes of slice headers)
	spareShrinkRatio = 4  // a larger one is dropped when a turn wrote less than a quarter of it
)

// drainTLS writes a TLS socket's queue until it is empty, each turn's frames as one buffer (one
// TLS record, one write), on gws's per-connection task queue.
func (s *socket) drainTLS() {
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue, s.spare = s.spare[:0], nil
		s.mu.Unlock()
		if len(batch) == 0 {
			break
		}
		_ = s.net.SetWriteDeadline(time.Now().Add(closeWriteTimeout)) // a socket deadline: the real clock
		n, err := s.net.Write(bytes.Join(batch, nil))
		s.server.writers.written.Add(int64(n))
		s.mu.Lock()
		for _, b := range batch {
			s.queued -= len(b)
		}
		if err != nil {
			s.failLocked()
			s.mu.Unlock()
			return
		}
		clear(batch)
		if s.spare == nil {
			s.spare = keptForNextTurn(batch)
		}
		s.mu.Unlock()
	}
	s.afterTurn()
}

// afterTurn ends a turn whose frames were all written: another turn if more came meanwhile, the
// close frame if the socket is closing, or nothing.
func (s *socket) afterTurn() {
	s.mu.Lock()
	if len(s.queue) > 0 {
		s.scheduled = false
		s.scheduleLocked()
		s.mu.Unlock()
		return
	}
	if !s.closing || s.closed {
		s.scheduled = false
		s.mu.Unlock()
		return
	}
	s.closed = true
	closeFrame, abort := s.closeWith, s.discard
	s.mu.Unlock()
	if abort {
		// closeNow: a client that does not read (its queue overflowed) or does not answer. The
		// close frame goes if the socket takes it at once, then the connection ends: nothing
		// waits on this client, and no writer blocks on it. (A frame it was in the middle of
		// receiving was dropped with the queue: the stream ends either way.)
		_ = s.net.SetWriteDeadline(time.Now().Add(writeSlice)) // socket deadline: the real clock
		_, _ = s.net.Write(closeFrame)
		_ = s.net.Close()
		return
	}
	// The close frame, then a bound on the client's answer: the read loop ends either way.
	_ = s.net.SetWriteDeadline(time.Now().Add(time.Second)) // socket deadlines: the real clock
	_, _ = s.net.Write(closeFrame)
	_ = s.net.SetReadDeadline(time.Now().Add(closeWriteTimeout))
}

// failLocked drops everything after a write failed: the connection is gone, its read loop ends.
func (s *socket) failLocked() {
	s.closing, s.closed = true, true
	s.queue, s.queued = nil, 0
	_ = s.net.Close()
}

// closeWriteTimeout bounds the writes of a socket being closed, and how long the client has to
// answer its close.
const closeWriteTimeout = 2 * time.Second

// Close implements actors.Sink: the close frame follows the frames already queued. A client
// that does not read must not hold its close up (nor a shutdown): the frames still queued and
// the close frame get closeWriteTimeout in all.
func (s *socket) Close(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	if s.closeCode.CompareAndSwap(0, int32(code)) {
		s.closeReason.Store(&reason)
	}
	s.closing, s.closeWith, s.closingAt = true, wireClose(code, reason), time.Now()
	if s.raw == nil {
		_ = s.net.SetWriteDeadline(time.Now().Add(closeWriteTimeout)) // a socket deadline: the real clock
	}
	s.scheduleLocked()
}

// closeNow closes without the frames still queued, dropping them: for a client that does not
// read (its queue is full) or does not answer.
func (s *socket) closeNow(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	if s.closeCode.CompareAndSwap(0, int32(code)) {
		s.closeReason.Store(&reason)
	}
	s.closing, s.closeWith, s.closingAt, s.discard = true, wireClose(code, reason), time.Now(), true
	s.queue, s.queued = nil, 0
	if s.raw == nil {
		_ = s.net.SetWriteDeadline(time.Now().Add(time.Second)) // unblock a drain stuck on it
	}
	s.scheduleLocked()
}

// gone is the read loop's end: nothing more is written.
func (s *socket) gone() {
	s.mu.Lock()
	s.closing, s.closed = true, true
	s.queue, s.queued = nil, 0
	s.mu.Unlock()
}

// sendError sends pusher:error and closes with the same code: for refusals at connect time.
func (s *socket) sendError(code int, message string) {
	s.Send(protocol.ErrorFrame(code, message))
	s.Close(code, message)
}
