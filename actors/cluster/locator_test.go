package cluster

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/node"
)

// A lookup answered under the old membership while the topology changed is not left in the
// cache: the next lookup asks again and finds the grain's new place. Without this, a member
// kept sending to the grain's old place until the next topology change.
func TestLookupRacingATopologyChangeIsNotCached(t *testing.T) {
	old, moved := actor.NewPID("old:1", "grain"), actor.NewPID("new:1", "grain")
	g := &clusterGrains{}
	g.get = func(string, string) *actor.PID {
		g.get = func(string, string) *actor.PID { return moved }
		g.TopologyChanged() // the membership changes while the old owner answers
		return old
	}
	if got := g.ChannelPID("app", "ch"); got != old {
		t.Fatalf("first lookup: %v, want the old owner's answer", got)
	}
	if got := g.ChannelPID("app", "ch"); got != moved {
		t.Fatalf("after the topology change: %v, want the new place %v", got, moved)
	}
	if got := g.ChannelPID("app", "ch"); got != moved {
		t.Fatalf("the new place is not cached: %v", got)
	}
	if _, ok := g.cache.Load(node.GrainKey(node.ChannelKind, node.Key("app", "ch"))); !ok {
		t.Fatal("the answer under a stable membership was not cached")
	}
}
