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
type nodeActor struct{ n *node.Node }

// SpawnNodeActor starts the node actor. Start it before joining a cluster: as soon as this
// member joins, re-activated grains ask it for state.
func SpawnNodeActor(n *node.Node) (*actor.PID, error) {
	return n.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &nodeActor{n: n} }), node.NodeActorName)
}

func (a *nodeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.NodeStateRequest:
		if pid, ok := a.n.Fanouts.Lookup(node.Key(m.AppId, m.Channel)); ok {
			ctx.Forward(pid)
			return
		}
		ctx.Respond(&messages.NodeState{})
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
		for _, left := range m.Left {
			msg := &messages.NodeLeft{Address: left.Address()}
			for _, pid := range a.n.LocalGrains.All() {
				ctx.Send(pid, msg)
			}
		}
		changed := &messages.TopologyChanged{}
		for _, pid := range a.n.Fanouts.All() {
			ctx.Send(pid, changed)
		}
	}
}
