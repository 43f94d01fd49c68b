// Package cluster is how one herald node finds grains and the other nodes: the grain locator of
// a single node and of a proto.actor cluster, joining and leaving the cluster, the node actor
// that answers other members about this node's sockets, and the gossip of connection counts.
package cluster

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

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
	get   func(identity, kind string) *actor.PID // the cluster's lookup: c.Get (a test's stand-in)
	cache sync.Map                               // node.GrainKey(kind, identity) -> *actor.PID
	// topology counts the topology changes: a lookup that raced with one (it asked under the
	// old membership, and stored after the cache was emptied) must not leave its answer cached,
	// or the member would send to the grain's old place until the next change.
	topology atomic.Uint64
}

func (g *clusterGrains) pid(identity, kind string) *actor.PID {
	key := node.GrainKey(kind, identity)
	if pid, ok := g.cache.Load(key); ok {
		return pid.(*actor.PID)
	}
	for attempt := 0; attempt < 3; attempt++ {
		topology := g.topology.Load()
		if pid := g.get(identity, kind); pid != nil {
			g.cache.Store(key, pid)
			if g.topology.Load() != topology {
				g.cache.CompareAndDelete(key, pid) // the membership changed meanwhile: ask again next time
			}
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

func (g *clusterGrains) Forget(kind, key string) { g.cache.Delete(node.GrainKey(kind, key)) }

func (g *clusterGrains) TopologyChanged() {
	g.topology.Add(1) // before the clear: a lookup storing after it sees the change (pid)
	g.cache.Clear()
}
