package transport

import (
	"runtime"
	"sync"

	"github.com/lxzan/gws"

	"github.com/herald-io/herald/actors/node"
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
// queue: the churn's member events waited up to 8x longer at p99). The handlers are the
// goroutines of a node.Mailboxes of its own: one whose stack has grown already takes each call,
// and one is started only when none is parked.
type inbound struct {
	h        *wsHandler
	handlers *node.Mailboxes
	calls    sync.Pool // of *inboundCall
}

// inboundItem is one thing a read loop received: a message, a ping (the pong to send) or the
// close (err).
type inboundItem struct {
	s      *socket
	msg    *gws.Message
	pong   []byte
	closed bool
	err    error
}

// inboundCall is an item on its way to a handler, and the read loop's wait for it. Pooled, with
// its run bound once, so that a frame read allocates nothing.
type inboundCall struct {
	it   inboundItem
	done chan struct{}
	run  func()
}

func newInbound(h *wsHandler) *inbound {
	// Parked handlers: enough for the frames of a burst of sockets read at once, on every core.
	in := &inbound{h: h, handlers: node.NewMailboxes(1, 16*runtime.GOMAXPROCS(0))}
	in.calls.New = func() any {
		call := &inboundCall{done: make(chan struct{}, 1)}
		call.run = func() {
			in.h.handle(call.it)
			call.done <- struct{}{}
		}
		return call
	}
	return in
}

// put has it handled and returns when it was.
func (in *inbound) put(it inboundItem) {
	call := in.calls.Get().(*inboundCall)
	call.it = it
	in.handlers.Schedule(call.run)
	<-call.done
	call.it = inboundItem{}
	in.calls.Put(call)
}

// close lets the parked handlers go; later items each get a goroutine that ends with them.
func (in *inbound) close() { in.handlers.Stop() }
