package transport

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lxzan/gws"
)

// inbound runs what a socket's read loop receives (messages, pings, the close) on a pool of
// handler goroutines while the read loop waits, instead of on the read loop's own stack.
//
// Why: an idle socket's cost is mostly its read loop's stack. The loop parks in its read about
// 1.4 KB deep, inside the 2 KB a goroutine starts with; but decoding a frame and handing it to the
// connection actor goes deeper, the stack doubles to 4 KB, and the GC never halves it again (it
// shrinks a stack only when less than a quarter of it is in use). Run on a handler, a socket's
// frames never take its reader past 2 KB: 2 KB less per idle socket, for two goroutine switches
// per frame read.
//
// The read loop waits for its frame's handling, so a socket's frames, pings and close are
// handled one at a time in the order read, and sockets are handled in parallel, as on the read
// loops themselves (a fixed set of queues, tried first, held every socket behind the others on its
// queue: the churn's member events waited up to 8x longer at p99). Handlers whose stacks have
// grown park between frames; one is started when none is parked, like the actors' Mailboxes.
// Hand-written: it is on the path of every frame a client sends.
type inbound struct {
	h         *wsHandler
	work      chan *inboundCall // unbuffered: a send succeeds only when a handler waits on it
	parked    atomic.Int32
	maxParked int32
	stop      chan struct{}
	stopOnce  sync.Once
	calls     sync.Pool // of *inboundCall
}

// inboundItem is one thing a read loop received: a message, a ping (payload) or the close (err).
type inboundItem struct {
	s      *socket
	msg    *gws.Message
	ping   []byte
	closed bool
	err    error
}

// inboundCall is an item on its way to a handler, and the read loop's wait for it.
type inboundCall struct {
	it   inboundItem
	done chan struct{}
}

func newInbound(h *wsHandler) *inbound {
	in := &inbound{h: h, work: make(chan *inboundCall), maxParked: int32(16 * runtime.GOMAXPROCS(0)), stop: make(chan struct{})}
	in.calls.New = func() any { return &inboundCall{done: make(chan struct{}, 1)} }
	return in
}

// put has it handled and returns when it was.
func (in *inbound) put(it inboundItem) {
	call := in.calls.Get().(*inboundCall)
	call.it = it
	select {
	case in.work <- call:
	default:
		go in.handler(call)
	}
	<-call.done
	call.it = inboundItem{}
	in.calls.Put(call)
}

func (in *inbound) handler(call *inboundCall) {
	for {
		in.h.handle(call.it)
		call.done <- struct{}{}
		if in.parked.Add(1) > in.maxParked {
			in.parked.Add(-1)
			return
		}
		select {
		case call = <-in.work:
			in.parked.Add(-1)
		case <-in.stop:
			in.parked.Add(-1)
			return
		}
	}
}

// close lets the parked handlers go; later items each get a goroutine that ends with them.
func (in *inbound) close() { in.stopOnce.Do(func() { close(in.stop) }) }
