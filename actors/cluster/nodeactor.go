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
		by := ctx.Sender()
		if by == nil {
			return // nobody to answer
		}
		if stale, ok := a.n.LocalGrains.Lookup(node.ChannelKind, node.Key(m.AppId, m.Channel)); ok && !stale.Equal(by) {
			// Only a rebuilding activation of the grain asks: the one here is stale. Its state,
			// handed over, is the answer's replica.
			ctx.Send(stale, &messages.HandOver{Request: m, From: by})
			return
		}
		a.answerState(ctx, m, by, nil)
	case *messages.HandedOver:
		a.answerState(ctx, m.Request, m.From, m.State)
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

// answerState answers a rebuilding activation (by) with this node's part of its channel: the
// fan-out's sockets, and the newest of the replica this node keeps and the state a stale
// activation here handed over.
func (a *nodeActor) answerState(ctx actor.Context, m *messages.NodeStateRequest, by *actor.PID, handed *messages.ReplicaUpdate) {
	key, self := node.Key(m.AppId, m.Channel), ctx.ActorSystem().Address()
	replica := a.replicas.get(key, self)
	if handed != nil {
		if h := replicaOf(handed, self); replica == nil || h.Version > replica.Version {
			replica = h
		}
	}
	if pid, ok := a.n.Fanouts.Lookup(key); ok {
		ctx.RequestWithCustomSender(pid, &messages.NodeStateRequest{AppId: m.AppId, Channel: m.Channel, Replica: replica}, by)
		return
	}
	ctx.Send(by, &messages.NodeState{Replica: replica, Members: a.n.Members(), Member: self})
}
