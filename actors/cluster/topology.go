package cluster

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
)

// ErrMemberGone ends a wait for a member that the membership reports gone.
var ErrMemberGone = errors.New("the member left the cluster")

// topologySignal wakes whoever waits on a member when the members change: a wait for an answer
// from a member ends as soon as the membership reports it gone, instead of at its timeout
// (proto.actor waits the whole timeout for an answer that cannot come).
type topologySignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// changed is closed at the next change of the members.
func (s *topologySignal) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *topologySignal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// has reports whether the member at address is in the membership now (proto.actor updates it
// before it publishes the topology event that tells of the change).
func has(c *cluster.Cluster, address string) bool {
	return slices.ContainsFunc(c.MemberList.Members().Members(), func(m *cluster.Member) bool { return m.Address() == address })
}

// request sends msg to pid and waits up to timeout for the answer, or until the membership
// reports pid's member gone (ErrMemberGone). An abandoned request may still be taken: every
// request herald sends again is idempotent.
func request(c *cluster.Cluster, signal *topologySignal, pid *actor.PID, msg any, timeout time.Duration) (any, error) {
	changed := signal.changed()
	if !has(c, pid.Address) {
		return nil, ErrMemberGone
	}
	type result struct {
		res any
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.ActorSystem.Root.RequestFuture(pid, msg, timeout).Result()
		done <- result{res, err}
	}()
	for {
		select {
		case r := <-done:
			return r.res, r.err
		case <-changed:
			changed = signal.changed()
			if !has(c, pid.Address) {
				return nil, ErrMemberGone
			}
		}
	}
}

// Request sends msg to pid as a request and waits for the answer: see request.
func (m *Member) Request(pid *actor.PID, msg any, timeout time.Duration) (any, error) {
	return request(m.c, &m.lookup.topology, pid, msg, timeout)
}

// TopologyChanged is closed at the next change of the members.
func (m *Member) TopologyChanged() <-chan struct{} { return m.lookup.topology.changed() }

// Has reports whether the member at address is in the membership now.
func (m *Member) Has(address string) bool { return has(m.c, address) }
