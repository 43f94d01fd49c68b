// Package cluster is how one herald node finds grains and the other nodes: the grain locator of
// a single node and of a proto.actor cluster, joining and leaving the cluster, the node actor
// that answers other members about this node's sockets, and the gossip of connection counts.
package cluster

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/herald-io/herald/actors/node"
)

// LocalGrains is the node.Locator of a single node: grains are local actors in two registries.
type LocalGrains struct{ channels, users *node.Registry }

// NewLocalGrains locates grains in the given registries.
func NewLocalGrains(channels, users *node.Registry) *LocalGrains {
	return &LocalGrains{channels: channels, users: users}
}

// ChannelPID implements node.Locator.
func (l *LocalGrains) ChannelPID(appID, channel string) *actor.PID {
	return l.channels.Get(node.Key(appID, channel))
}

// UserPID implements node.Locator.
func (l *LocalGrains) UserPID(appID, userID string) *actor.PID {
	return l.users.Get(node.Key(appID, userID))
}

// Forget implements node.Locator: a local grain releases itself as it stops.
func (l *LocalGrains) Forget(string, string) {}

// TopologyChanged implements node.Locator: one node has no topology.
func (l *LocalGrains) TopologyChanged() {}

// Release implements node.Locator.
func (l *LocalGrains) Release(kind, key string, pid *actor.PID) {
	if kind == node.UserKind {
		l.users.Release(key, pid)
	} else {
		l.channels.Release(key, pid)
	}
}

// clusterGrains is the node.Locator of a cluster: herald's identity lookup (lookup.go) with a
// PID cache in front, so the hot path does not ask the owner member each time. The cache is
// emptied on every topology change (grains move when members join or leave; proto.actor's own
// cache is not) and an entry is dropped when a request to it comes back as a dead letter.
type clusterGrains struct {
	c     *cluster.Cluster
	cache sync.Map // grainKey(kind, identity) -> *actor.PID
}

func (g *clusterGrains) pid(identity, kind string) *actor.PID {
	key := grainKey(kind, identity)
	if pid, ok := g.cache.Load(key); ok {
		return pid.(*actor.PID)
	}
	for attempt := 0; attempt < 3; attempt++ {
		if pid := g.c.Get(identity, kind); pid != nil {
			g.cache.Store(key, pid)
			return pid
		}
	}
	// No owner answered (a topology change in progress): a dead letter tells the requester.
	return actor.NewPID("nonhost", "unresolved/"+kind)
}

func (g *clusterGrains) ChannelPID(appID, channel string) *actor.PID {
	return g.pid(node.Key(appID, channel), node.ChannelKind)
}

func (g *clusterGrains) UserPID(appID, userID string) *actor.PID {
	return g.pid(node.Key(appID, userID), node.UserKind)
}

// Release: proto.actor's cluster middleware tells the owner's placement actor when a grain stops.
func (g *clusterGrains) Release(string, string, *actor.PID) {}

func (g *clusterGrains) Forget(kind, key string) { g.cache.Delete(grainKey(kind, key)) }

func (g *clusterGrains) TopologyChanged() { g.cache.Clear() }
