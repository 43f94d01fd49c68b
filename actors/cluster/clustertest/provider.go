// Package clustertest is an in-memory membership for proto.actor clusters whose members run in
// one process: the in-process cluster tests of herald. proto.actor ships a test provider, but a
// member it stopped keeps receiving topology updates (and proto.actor panics handling them), so
// a member's death cannot be simulated with it; here a member that leaves stops listening first.
package clustertest

import (
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/cluster"
)

// Membership is the members of one cluster, shared by their providers.
type Membership struct {
	mu        sync.Mutex
	members   map[string]*cluster.Member // member id -> member
	listeners map[string]*cluster.MemberList
}

// NewMembership is an empty membership.
func NewMembership() *Membership {
	return &Membership{members: map[string]*cluster.Member{}, listeners: map[string]*cluster.MemberList{}}
}

// Provider makes a cluster.ClusterProvider for one member.
func (m *Membership) Provider() cluster.ClusterProvider { return &provider{m: m} }

type provider struct {
	m  *Membership
	id string
}

func (p *provider) StartMember(c *cluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return fmt.Errorf("member address: %w", err)
	}
	p.id = c.ActorSystem.ID
	p.m.mu.Lock()
	p.m.members[p.id] = &cluster.Member{Id: p.id, Host: host, Port: int32(port), Kinds: c.GetClusterKinds()}
	p.m.listeners[p.id] = c.MemberList
	p.m.mu.Unlock()
	p.m.notify()
	return nil
}

func (p *provider) StartClient(c *cluster.Cluster) error {
	return fmt.Errorf("clustertest: clients are not supported")
}

// Shutdown takes the member out: it stops listening first, so a member that is gone never
// handles its own departure, then the others are told.
func (p *provider) Shutdown(bool) error {
	p.m.mu.Lock()
	delete(p.m.listeners, p.id)
	delete(p.m.members, p.id)
	p.m.mu.Unlock()
	p.m.notify()
	return nil
}

// notify gives every listening member the current members, one member at a time.
func (m *Membership) notify() {
	m.mu.Lock()
	members := make([]*cluster.Member, 0, len(m.members))
	for _, mem := range m.members {
		members = append(members, mem)
	}
	lists := make([]*cluster.MemberList, 0, len(m.listeners))
	for _, l := range m.listeners {
		lists = append(lists, l)
	}
	m.mu.Unlock()
	for _, l := range lists {
		l.UpdateClusterTopology(members)
	}
}
