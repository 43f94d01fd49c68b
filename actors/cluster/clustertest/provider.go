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
	hold      bool     // departures wait for Release, as a provider's failure detection takes time
	departed  []string // members gone while held
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
	if p.m.hold {
		p.m.departed = append(p.m.departed, p.id)
		p.m.mu.Unlock()
		return nil
	}
	delete(p.m.members, p.id)
	p.m.mu.Unlock()
	p.m.notify()
	return nil
}

// Hold keeps members that stop in the membership until Release: the others go on seeing a dead
// member for a while, as they do until a real provider's health checks fail.
func (m *Membership) Hold() {
	m.mu.Lock()
	m.hold = true
	m.mu.Unlock()
}

// Release takes out the members that stopped since Hold and tells the others.
func (m *Membership) Release() {
	m.mu.Lock()
	m.hold = false
	for _, id := range m.departed {
		delete(m.members, id)
	}
	m.departed = nil
	m.mu.Unlock()
	m.notify()
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
