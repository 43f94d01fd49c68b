package node

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Mailboxes runs herald's actors' mailboxes. proto.actor's default dispatcher starts a goroutine
// each time an idle mailbox gets a message; the goroutine starts with a small stack that the
// actor's work grows again every time (runtime.newstack and copystack were 10-13 % of the CPU of
// connects and presence churn). Mailboxes hands the run to a parked worker whose stack has grown
// already, and starts a goroutine only when none is parked. Hand-written because it is the hot
// path of every actor message; a pool library would add a queue and locks in front of it.
//
// Scheduling never blocks, so an actor that waits inside Receive (a grain lookup does) cannot
// hold up others, as with the default dispatcher.
type Mailboxes struct {
	throughput int
	maxParked  int32
	parked     atomic.Int32
	work       chan func() // unbuffered: a send succeeds only when a worker waits on it
	stop       chan struct{}
	stopOnce   sync.Once
}

var _ actor.Dispatcher = (*Mailboxes)(nil)

// NewMailboxes runs up to throughput messages per mailbox turn and keeps up to maxParked idle
// workers. Schedule also serves callers that are not actors (transport's frame handlers), for
// which throughput means nothing.
func NewMailboxes(throughput, maxParked int) *Mailboxes {
	return &Mailboxes{throughput: throughput, maxParked: int32(maxParked), work: make(chan func()), stop: make(chan struct{})}
}

// Stop lets the parked workers go; runs scheduled afterwards still run, each on a goroutine
// that ends with it. For a node that stops: its parked workers would otherwise wait forever.
func (m *Mailboxes) Stop() {
	if m != nil { // a node on proto.actor's default dispatcher
		m.stopOnce.Do(func() { close(m.stop) })
	}
}

// Schedule implements actor.Dispatcher.
func (m *Mailboxes) Schedule(fn func()) {
	select {
	case m.work <- fn:
	default:
		go m.worker(fn)
	}
}

// Throughput implements actor.Dispatcher.
func (m *Mailboxes) Throughput() int { return m.throughput }

func (m *Mailboxes) worker(fn func()) {
	for {
		fn()
		if m.parked.Add(1) > m.maxParked {
			m.parked.Add(-1)
			return
		}
		select {
		case fn = <-m.work:
			m.parked.Add(-1)
		case <-m.stop:
			m.parked.Add(-1)
			return
		}
	}
}

// Props makes props of producer that run on the node's mailboxes (proto.actor's default
// dispatcher when the node has none).
func (n *Node) Props(producer actor.Producer) *actor.Props {
	if n.Mailboxes == nil {
		return actor.PropsFromProducer(producer)
	}
	return actor.PropsFromProducer(producer, actor.WithDispatcher(n.Mailboxes))
}
