package actors

import (
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/herald-io/herald/actors/messages"
)

// nodeActor is the one well-known actor of each node (named herald-node): it answers other
// members' questions about this node's sockets and tells local actors about topology changes.
type nodeActor struct {
	engine *Engine
}

func (n *nodeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.NodeStateRequest:
		if pid, ok := n.engine.fanouts.lookup(channelKey(m.AppId, m.Channel)); ok {
			ctx.Forward(pid)
			return
		}
		ctx.Respond(&messages.NodeState{})
	case *messages.ListChannelsRequest:
		var out []string
		for _, k := range n.engine.fanouts.keys(channelKey(m.AppId, "")) {
			if _, ch := splitChannelKey(k); strings.HasPrefix(ch, m.Prefix) {
				out = append(out, ch)
			}
		}
		ctx.Respond(&messages.ListChannelsResponse{Channels: out})
	case *cluster.ClusterTopology:
		if len(m.Left) > 0 || len(m.Joined) > 0 {
			n.engine.grains.topologyChanged()
		}
		for _, left := range m.Left {
			msg := &messages.NodeLeft{Address: left.Address()}
			for _, pid := range n.engine.localGrains.all() {
				ctx.Send(pid, msg)
			}
		}
		if len(m.Left) == 0 && len(m.Joined) == 0 {
			return
		}
		changed := &messages.TopologyChanged{}
		for _, pid := range n.engine.fanouts.all() {
			ctx.Send(pid, changed)
		}
	}
}
