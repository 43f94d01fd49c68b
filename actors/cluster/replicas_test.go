package cluster

import (
	"fmt"
	"slices"
	"testing"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
)

func TestReplicas(t *testing.T) {
	s := newReplicas()
	key := node.Key("app", "presence-cache-room")
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m1", Version: 1, Whole: true,
		CachedFrame: []byte("f1"), CacheExpiresUnixNano: 10, Occupied: true, MembersAdded: []string{"a", "b"}})
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m1", Version: 2,
		MembersRemoved: []string{"a"}, Occupied: true, RemovalsDue: map[string]int64{"a": 99}})
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m1", Version: 3,
		MembersAdded: []string{"c"}, Occupied: true, RemovalsDue: map[string]int64{"a": 99}})
	r := s.get(key, "m2")
	if r.Holder != "m2" || r.Version != 3 || string(r.CachedFrame) != "f1" || r.CacheExpiresUnixNano != 10 || !r.Occupied ||
		r.RemovalsDue["a"] != 99 || fmt.Sprint(slices.Sorted(slices.Values(r.Members))) != "[b c]" {
		t.Fatalf("kept %+v", r)
	}
	if got := s.orphaned(map[string]bool{"m3": true}); len(got) != 0 {
		t.Fatalf("orphaned when another member left: %v", got)
	}
	if got := s.orphaned(map[string]bool{"m1": true}); len(got) != 1 || got[0] != key {
		t.Fatalf("orphaned when its owner left: %v", got)
	}
	// A whole state replaces what was kept; a drop forgets it.
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m3", Version: 4, Whole: true})
	if r := s.get(key, "m2"); len(r.Members) != 0 || len(r.CachedFrame) != 0 || r.Occupied {
		t.Fatalf("after a whole state: %+v", r)
	}
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Drop: true})
	if s.get(key, "m2") != nil {
		t.Fatal("a dropped replica is still kept")
	}
}
