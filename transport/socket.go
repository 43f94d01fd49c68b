package transport

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/protocol"
)

// socket is one client WebSocket: the actors' Sink, with a write queue bounded in bytes. Frames
// are written by one drain job at a time on gws's per-connection task queue, so a socket that is
// not writing holds no goroutine.
type socket struct {
	conn   *gws.Conn
	server *Server
	app    *actors.App
	actor  *actors.Connection

	lastSeen    atomic.Int64 // unix nanos of the last frame read
	closeCode   atomic.Int32 // the close code herald sent, 0 when the client closed
	closeReason atomic.Pointer[string]
	pingSent    atomic.Int64 // unix nanos of our pusher:ping to a silent client, 0 when none

	mu       sync.Mutex
	queue    [][]byte
	spare    [][]byte // the other half of the double buffer the drain swaps with queue
	queued   int      // bytes in queue
	draining bool
	closing  bool
	limit    int
}

// Send implements actors.Sink.
func (s *socket) Send(frame []byte) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if s.queued+len(frame) > s.limit {
		s.mu.Unlock()
		if s.app != nil {
			s.app.Metrics.AddSlowConsumerDisconnect()
		}
		s.closeOnce(protocol.CodeWriteQueueFull, "slow consumer: write queue full")
		return
	}
	s.queue = append(s.queue, frame)
	s.queued += len(frame)
	start := !s.draining
	s.draining = true
	s.mu.Unlock()
	if start {
		s.conn.Async(s.drain)
	}
}

func (s *socket) drain() {
	for {
		s.mu.Lock()
		batch := s.queue
		if len(batch) == 0 || s.closing {
			s.draining = false
			s.mu.Unlock()
			return
		}
		s.queue, s.spare = s.spare[:0], nil
		s.mu.Unlock()

		written := 0
		for i, frame := range batch {
			if err := s.conn.WriteMessage(gws.OpcodeText, frame); err != nil {
				s.mu.Lock()
				s.closing = true
				s.mu.Unlock()
				break
			}
			written += len(frame)
			batch[i] = nil
		}
		s.mu.Lock()
		s.queued -= written
		if s.spare == nil {
			s.spare = batch[:0]
		}
		s.mu.Unlock()
	}
}

// closeWriteTimeout bounds the writes of a socket being closed.
const closeWriteTimeout = 2 * time.Second

// Close implements actors.Sink: the close frame follows the frames already queued.
func (s *socket) Close(code int, reason string) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	pending := s.queue
	s.queue, s.queued = nil, 0
	s.mu.Unlock()
	// A client that does not read must not hold its close up (nor a shutdown): a drain blocked
	// on it, the frames still queued and the close frame get closeWriteTimeout in all.
	_ = s.conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout)) // a socket deadline: the real clock
	s.conn.Async(func() {
		for _, frame := range pending {
			if s.conn.WriteMessage(gws.OpcodeText, frame) != nil {
				break
			}
		}
		s.writeClose(code, reason)
	})
}

// closeOnce closes without waiting for queued frames, dropping them: for a client that does
// not read. A write blocked on it fails at the deadline, so the close frame can follow.
func (s *socket) closeOnce(code int, reason string) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	s.queue, s.queued = nil, 0
	s.mu.Unlock()
	go s.writeClose(code, reason)
}

func (s *socket) writeClose(code int, reason string) {
	if s.closeCode.CompareAndSwap(0, int32(code)) {
		s.closeReason.Store(&reason)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second)) // a socket deadline: the real clock
	_ = s.conn.WriteClose(uint16(code), []byte(reason))
}

// sendError sends pusher:error and closes with the same code: for refusals at connect time.
func (s *socket) sendError(code int, message string) {
	s.Send(protocol.ErrorFrame(code, message))
	s.Close(code, message)
}
