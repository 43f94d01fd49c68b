package cluster

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/k8s"
	"github.com/asynkron/protoactor-go/remote"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/configs"
)

// leaveHandOver is how long a leaving member keeps its grains after announcing that it leaves:
// a gossip round (300 ms) and a provider refresh (1 s) for the others to re-route.
const leaveHandOver = 1500 * time.Millisecond

// remoteWindow is the fixed gRPC flow-control window of a member's remoting server (NewMember).
const remoteWindow = 1 << 20

// Member is this node as a member of a proto.actor cluster.
type Member struct {
	c      *cluster.Cluster
	grains *clusterGrains
	// settled: this member's view of the members has caught up with the cluster (see Owns).
	settled atomic.Bool
	alone   time.Duration // how long a member that sees no other waits before it serves alone
	lookup  *identityLookup
}

// NewMember prepares the actor system to be a member of the cluster cfg describes, serving the
// grain kinds given; Start joins. Its Locator and Addresses work from now on, so the node can
// hand them to its actors before the first grain is activated here. provider, when not nil,
// replaces the one cfg names (tests use an in-memory one).
func NewMember(system *actor.ActorSystem, cfg configs.Cluster, provider cluster.ClusterProvider, kinds ...*cluster.Kind) (*Member, error) {
	host, portText, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("cluster.address %q: %w", cfg.Address, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("cluster.address %q: %w", cfg.Address, err)
	}
	if provider == nil {
		if provider, err = newProvider(cfg); err != nil {
			return nil, err
		}
	}
	lookup := newIdentityLookup()
	remoteCfg := remote.Configure(host, port)
	// proto.actor's endpoint to a member that stopped answering retries its connection 5 times,
	// 2 s apart, holding every message to that address meanwhile: a member restarted at the same
	// address would be unreachable from here for up to 10 s. One try: messages to a dead member
	// are dropped after 2 s (their senders retry), and the next message connects anew.
	remoteCfg.MaxRetryCount = 1
	// A member's remoting server sends, for each data frame it reads while no ping of its own is
	// out, a window update and a ping to estimate the link's bandwidth-delay product (gRPC's
	// dynamic flow control), and the sender answers it. Between members traffic comes in small
	// batches, so that was two more system calls and two more goroutine wakes on each side of
	// almost every batch. Fixed windows turn the estimate off; 1 MB a stream and a connection
	// (1 MB of buffer at most per member that sends here) never hold a batch back: a window
	// update goes back after each quarter of it.
	remoteCfg.ServerOptions = append(remoteCfg.ServerOptions,
		grpc.StaticStreamWindowSize(remoteWindow), grpc.StaticConnWindowSize(remoteWindow))
	// proto.actor makes each endpoint writer's queue (one per member this one sends to) a ring of
	// EndpointWriterQueueSize slots, 1,000,000 by default: 16 MB that the ring's head touches
	// page by page as traffic passes, and that every garbage collection scans. It grows by
	// doubling when full, so a small start costs nothing but a copy in a burst.
	remoteCfg.EndpointWriterQueueSize = 1024
	c := cluster.New(system, cluster.Configure(cfg.Name, provider, lookup, remoteCfg,
		cluster.WithKinds(kinds...)))
	return &Member{c: c, grains: &clusterGrains{get: c.Get}, lookup: lookup, alone: cfg.RebuildTimeout}, nil
}

// Start joins the cluster: from now on, other members may activate grains here.
func (m *Member) Start() error {
	m.c.ActorSystem.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*cluster.ClusterTopology); ok && len(t.Members) > 1 {
			m.settle()
		}
	})
	time.AfterFunc(m.alone, m.settle) // the real clock: it waits for the cluster
	return startMember(m.c)
}

// settle ends the wait of a member that just started. The activations refused meanwhile were
// stopped with the requests they held, unanswered (proto.actor drops a stopping actor's
// mailbox): the fan-outs ask again, as after a topology change.
func (m *Member) settle() {
	if !m.settled.Swap(true) {
		m.c.ActorSystem.Root.Send(node.NodeActor(m.c.ActorSystem.Address()), memberSettled{})
	}
}

func newProvider(cfg configs.Cluster) (cluster.ClusterProvider, error) {
	switch cfg.Provider {
	case "automanaged":
		return automanaged.NewWithConfig(time.Second, cfg.Automanaged.Port, cfg.Automanaged.Seeds...), nil
	case "etcd":
		p, err := etcd.NewWithConfig(cfg.Etcd.Prefix, clientv3.Config{Endpoints: cfg.Etcd.Endpoints, DialTimeout: 5 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("etcd provider: %w", err)
		}
		return p, nil
	case "k8s":
		p, err := k8s.New()
		if err != nil {
			return nil, fmt.Errorf("k8s provider: %w", err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("cluster.provider %q: use automanaged, etcd or k8s", cfg.Provider)
}

// startMember joins the cluster; proto.actor panics when it cannot (a port in use, say).
func startMember(c *cluster.Cluster) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("joining the cluster: %v", r)
		}
	}()
	c.StartMember()
	return nil
}

// Locator finds grains anywhere in the cluster.
func (m *Member) Locator() node.Locator { return m.grains }

// Addresses lists the members' addresses.
func (m *Member) Addresses() []string {
	var out []string
	for _, mem := range m.c.MemberList.Members().Members() {
		out = append(out, mem.Address())
	}
	return out
}

// Owns reports whether this member owns the grain of kind and identity, by the hash ring that
// places grains (ring.go) and this member's current view of the members. A
// member that does not own a grain must not activate it: a member whose view is behind asks
// the previous owner, which would otherwise start a second activation of the grain, one the
// placement never stops.
//
// A member that just started has seen no other member yet: its view is not the cluster's, and a
// grain it activated would rebuild from itself alone and miss every other member's sockets for
// good. It owns nothing until it has seen another member, or has waited cluster.rebuild_timeout
// alone (a cluster of one); the requesters meanwhile get dead letters and ask again.
func (m *Member) Owns(kind, identity string) bool {
	if !m.settled.Load() {
		return false
	}
	return newRing(m.c.MemberList.Members().Members()).owner(kind, identity) == m.c.ActorSystem.Address()
}

// Backup is the member next in line for the grain of kind and identity by the ring of the
// latest topology: the grain's owner if its owner dies. "" with one member.
func (m *Member) Backup(kind, identity string) string {
	_, second := m.lookup.ring.Load().top2(kind, identity)
	return second
}

// Leave announces that this member leaves, gives the others time to re-route, and shuts the
// member down: its grains stop, and re-activate on the others.
func (m *Member) Leave() {
	// Say we are leaving before our grains stop: the others block this member on the next
	// gossip round and re-route to new activations, instead of sending events to grains that
	// are gone (proto.actor's Shutdown stops the grains first).
	m.c.Gossip.SetState(cluster.GracefullyLeftKey, &emptypb.Empty{})
	time.Sleep(leaveHandOver)
	m.c.Shutdown(true)
}

// Kill stops the member as a crash would, for tests of a member's death: the remote stops
// accepting, every actor of the node stops at once (proto.actor's gossip and placement
// included, so nothing more of the member's state leaves it), and only then does the membership
// learn that the member is gone. The remote's endpoint actors are left running: proto.actor
// panics when a message for the node arrives once they are gone (they answer dead letters).
func (m *Member) Kill() {
	system := m.c.ActorSystem
	m.c.Remote.Shutdown(false)
	for _, bucket := range system.ProcessRegistry.LocalPIDs.LocalPIDs {
		for id, item := range bucket.Items() {
			if p, ok := item.(actor.Process); ok && !strings.HasPrefix(id, "EndpointSupervisor") {
				p.Stop(actor.NewPID(system.Address(), id))
			}
		}
	}
	system.Shutdown()
	_ = m.c.Config.ClusterProvider.Shutdown(false)
}

// Cluster is the proto.actor cluster, for the gossip.
func (m *Member) Cluster() *cluster.Cluster { return m.c }
