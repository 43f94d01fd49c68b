package cluster

import (
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
)

// nodeActor is the one well-known actor of each node (node.NodeActorName): it answers other
// members' questions about this node's sockets, and tells this node's actors about topology
// changes.
type nodeActor struct {
	n        *node.Node
	replicas *replicas
}

// SpawnNodeActor starts the node actor. Start it before joining a cluster: as soon as this
// member joins, re-activated grains ask it for state.
func SpawnNodeActor(n *node.Node) (*actor.PID, error) {
	return n.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &nodeActor{n: n, replicas: newReplicas()} }), node.NodeActorName)
}

// memberSettled: this member has caught up with the cluster (Member.settle).
type memberSettled struct{}

func (a *nodeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.NodeStateRequest:
		key := node.Key(m.AppId, m.Channel)
		if by := ctx.Sender(); by != nil {
			// Only a rebuilding activation of the grain asks: any other one here is stale.
			ctx.Send(actor.NewPID(ctx.ActorSystem().Address(), placementName), supersede{kind: node.ChannelKind, identity: key, by: by})
		}
		replica := a.replicas.get(key, ctx.ActorSystem().Address())
		if pid, ok := a.n.Fanouts.Lookup(key); ok {
			// The fan-out answers the grain, with the replica this node keeps.
			ctx.RequestWithCustomSender(pid, &messages.NodeStateRequest{AppId: m.AppId, Channel: m.Channel, Replica: replica}, ctx.Sender())
			return
		}
		ctx.Respond(&messages.NodeState{Replica: replica, Members: a.n.Members(), Member: ctx.ActorSystem().Address()})
	case *messages.ReplicaUpdate:
		a.replicas.apply(m, a.n.Clock.Now())
	case memberSettled:
		a.n.Grains.TopologyChanged()
		changed := &messages.TopologyChanged{}
		for _, pid := range a.n.Fanouts.All() {
			ctx.Send(pid, changed)
		}
	case *messages.ListChannelsRequest:
		var out []string
		for _, k := range a.n.Fanouts.Keys(node.Key(m.AppId, "")) {
			if _, ch := node.SplitKey(k); strings.HasPrefix(ch, m.Prefix) {
				out = append(out, ch)
			}
		}
		ctx.Respond(&messages.ListChannelsResponse{Channels: out})
	case *cluster.ClusterTopology:
		if len(m.Left) == 0 && len(m.Joined) == 0 {
			return
		}
		a.n.Grains.TopologyChanged()
		left := map[string]bool{}
		for _, mem := range m.Left {
			left[mem.Address()] = true
			msg := &messages.NodeLeft{Address: mem.Address()}
			for _, pid := range a.n.LocalGrains.All() {
				ctx.Send(pid, msg)
			}
		}
		changed := &messages.TopologyChanged{}
		for _, mem := range m.Joined {
			changed.Joined = append(changed.Joined, mem.Address())
		}
		for _, pid := range a.n.Fanouts.All() {
			ctx.Send(pid, changed)
		}
		// The member next in line of a local grain may be the one that joined.
		for _, pid := range a.n.LocalGrains.All() {
			ctx.Send(pid, changed)
		}
		ring := newRing(m.Members)
		owner := func(key string) string { return ring.owner(node.ChannelKind, key) }
		if orphans := a.replicas.orphaned(left, owner); len(orphans) > 0 {
			wakeGrains(a.n, orphans)
		}
	}
}
