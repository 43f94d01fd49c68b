package cluster

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/herald-io/herald/actors/node"
)

// placementName is the actor on every member that activates the grains the ring gives it.
const placementName = "herald-placement"

// activationTimeout bounds one ask of an owner's placement actor for a grain. Actors look
// grains up inside Receive, so a dead owner the membership has not reported yet must not hold
// them long: a live owner answers in milliseconds, and the locator asks again.
const activationTimeout = time.Second

// identityLookup is proto.actor's cluster.IdentityLookup placing grains on herald's ring
// (ring.go) instead of proto.actor's disthash rendezvous: the owner of a grain is the member
// the ring names by this member's view of the topology, and that member's placement actor
// activates it once and stops it when a topology change gives it to another member.
type identityLookup struct {
	c         *cluster.Cluster
	ring      atomic.Pointer[ring]
	placement *actor.PID
	sub       *eventstream.Subscription
	stop      sync.Once
	topology  topologySignal // notified after ring is updated
}

func newIdentityLookup() *identityLookup {
	l := &identityLookup{}
	l.ring.Store(newRing(nil))
	return l
}

// Setup implements cluster.IdentityLookup.
func (l *identityLookup) Setup(c *cluster.Cluster, _ []string, _ bool) {
	l.c = c
	l.placement, _ = c.ActorSystem.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &placementActor{l: l, byKey: map[string]*actor.PID{}, byPID: map[string]*cluster.ClusterIdentity{}}
	}), placementName)
	l.sub = c.ActorSystem.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*cluster.ClusterTopology); ok {
			l.ring.Store(newRing(t.Members))
			c.ActorSystem.Root.Send(l.placement, t)
			l.topology.notify()
		}
	})
}

// Get implements cluster.IdentityLookup: the grain's activation on its owner, nil when the
// owner does not answer or leaves the membership meanwhile (the caller asks again, the new owner).
func (l *identityLookup) Get(ci *cluster.ClusterIdentity) *actor.PID {
	owner := l.ring.Load().owner(ci.Kind, ci.Identity)
	if owner == "" {
		return nil
	}
	res, err := request(l.c, &l.topology, actor.NewPID(owner, placementName),
		&cluster.ActivationRequest{ClusterIdentity: ci}, activationTimeout)
	if err != nil {
		return nil
	}
	if r, ok := res.(*cluster.ActivationResponse); ok && !r.Failed {
		return r.Pid
	}
	return nil
}

// RemovePid implements cluster.IdentityLookup: herald's locator forgets a stopped grain when a
// request to it comes back as a dead letter, so there is no cache to clean here.
func (l *identityLookup) RemovePid(*cluster.ClusterIdentity, *actor.PID) {}

// Shutdown implements cluster.IdentityLookup. proto.actor calls it twice on a graceful leave.
func (l *identityLookup) Shutdown() {
	l.stop.Do(func() {
		if l.c == nil {
			return
		}
		l.c.ActorSystem.EventStream.Unsubscribe(l.sub)
		_ = l.c.ActorSystem.Root.PoisonFuture(l.placement).Wait()
	})
}

// placementActor holds the grains activated on this member, as its children.
type placementActor struct {
	l     *identityLookup
	byKey map[string]*actor.PID               // kind/identity -> activation
	byPID map[string]*cluster.ClusterIdentity // activation's PID id -> identity
}

func (p *placementActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ActivationRequest:
		ci := m.ClusterIdentity
		key := node.GrainKey(ci.Kind, ci.Identity)
		if pid, ok := p.byKey[key]; ok {
			ctx.Respond(&cluster.ActivationResponse{Pid: pid})
			return
		}
		kind := p.l.c.GetClusterKind(ci.Kind)
		if kind == nil {
			ctx.Respond(&cluster.ActivationResponse{Failed: true})
			return
		}
		pid := ctx.SpawnPrefix(cluster.WithClusterIdentity(kind.Props, ci), ci.Identity)
		p.byKey[key] = pid
		p.byPID[pid.Id] = ci
		ctx.Respond(&cluster.ActivationResponse{Pid: pid})
	case *actor.Terminated:
		// A grain stopped (idle, refused, or moved): the next request activates a new one.
		if ci, ok := p.byPID[m.Who.Id]; ok {
			delete(p.byPID, m.Who.Id)
			if key := node.GrainKey(ci.Kind, ci.Identity); p.byKey[key] != nil && p.byKey[key].Equal(m.Who) {
				delete(p.byKey, key)
			}
		}
	case *cluster.ClusterTopology:
		// Stop the grains the new topology gives to another member; they re-activate there.
		r := newRing(m.Members)
		self := ctx.ActorSystem().Address()
		for key, pid := range p.byKey {
			if ci := p.byPID[pid.Id]; ci != nil && r.owner(ci.Kind, ci.Identity) != self {
				ctx.Poison(pid)
				delete(p.byKey, key)
			}
		}
	}
}
