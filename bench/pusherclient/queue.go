package pusherclient

import "sync"

// queue is the bounded FIFO between the reader goroutine and Next. It grows only as far as the
// backlog does (a channel of 1024 Messages would cost ~150 KB per client up front, too much for
// ten thousand idle bench clients), and a full queue makes the reader wait rather than drop.
type queue struct {
	mu    sync.Mutex
	items []Message
	head  int
	max   int
	ready chan struct{} // signalled after a push: Next may find something
	space chan struct{} // signalled after a pop: a waiting push may proceed
	// onWait, when set (by tests, under mu), is called each time push starts waiting for space.
	onWait func()
}

func newQueue(max int) *queue {
	return &queue{max: max, ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

// push appends m, waiting while the queue is full; it gives up and reports false once stop is
// closed.
func (q *queue) push(m Message, stop <-chan struct{}) bool {
	for {
		q.mu.Lock()
		if len(q.items)-q.head < q.max {
			if q.head > 0 && len(q.items) == cap(q.items) {
				n := copy(q.items, q.items[q.head:])
				clear(q.items[n:])
				q.items, q.head = q.items[:n], 0
			}
			q.items = append(q.items, m)
			q.mu.Unlock()
			signal(q.ready)
			return true
		}
		onWait := q.onWait
		q.mu.Unlock()
		if onWait != nil {
			onWait()
		}
		select {
		case <-q.space:
		case <-stop:
			return false
		}
	}
}

// pop takes the oldest message, if any.
func (q *queue) pop() (Message, bool) {
	q.mu.Lock()
	if q.head == len(q.items) {
		q.mu.Unlock()
		return Message{}, false
	}
	m := q.items[q.head]
	q.items[q.head] = Message{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	q.mu.Unlock()
	signal(q.space)
	return m, true
}

// signal wakes a waiter without blocking; a wake-up nobody needed only costs a retry.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
