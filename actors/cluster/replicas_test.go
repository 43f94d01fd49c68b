package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
)

func TestReplicas(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newReplicas()
	key := node.Key("app", "presence-cache-room")
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m1", Version: 1, Whole: true,
		CachedFrame: []byte("f1"), CacheExpiresUnixNano: 10, Occupied: true, MembersAdded: []string{"a", "b"}}, now)
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m1", Version: 2,
		MembersRemoved: []string{"a"}, Occupied: true, RemovalsDue: map[string]int64{"a": 99}}, now)
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m1", Version: 3,
		MembersAdded: []string{"c"}, Occupied: true, RemovalsDue: map[string]int64{"a": 99}}, now)
	r := s.get(key, "m2")
	if r.Holder != "m2" || r.Version != 3 || string(r.CachedFrame) != "f1" || r.CacheExpiresUnixNano != 10 || !r.Occupied ||
		r.RemovalsDue["a"] != 99 || fmt.Sprint(slices.Sorted(slices.Values(r.Members))) != "[b c]" {
		t.Fatalf("kept %+v", r)
	}
	stays := func(string) string { return "m1" }
	moved := func(string) string { return "m4" }
	if got := s.orphaned(map[string]bool{"m3": true}, stays); len(got) != 0 {
		t.Fatalf("orphaned when another member left: %v", got)
	}
	if got := s.orphaned(nil, moved); len(got) != 1 || got[0] != key {
		t.Fatalf("a grain with pending checks moved to a member that joined: orphaned %v", got)
	}
	if got := s.orphaned(map[string]bool{"m1": true}, moved); len(got) != 1 || got[0] != key {
		t.Fatalf("orphaned when its owner left: %v", got)
	}
	// A whole state replaces what was kept; a drop forgets it.
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m3", Version: 4, Whole: true}, now)
	if r := s.get(key, "m2"); len(r.Members) != 0 || len(r.CachedFrame) != 0 || r.Occupied {
		t.Fatalf("after a whole state: %+v", r)
	}
	if got := s.orphaned(nil, moved); len(got) != 0 {
		t.Fatalf("a grain with nothing pending moved: orphaned %v", got)
	}
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Drop: true}, now)
	if s.get(key, "m2") != nil {
		t.Fatal("a dropped replica is still kept")
	}
	// A partial update from the replaced activation after the drop (it was leaving and still
	// served) brings nothing back, for a while; a whole state does.
	stale := &messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m1", Version: 9, RemovalsDue: map[string]int64{"x": 1}}
	s.apply(stale, now.Add(droppedMemory))
	if s.get(key, "m2") != nil {
		t.Fatal("a partial update after a drop brought the replica back")
	}
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "presence-cache-room", Owner: "m3", Version: 10, Whole: true, MembersAdded: []string{"a"}}, now)
	s.apply(stale, now) // another activation's partial update
	if r := s.get(key, "m2"); r == nil || r.Version != 10 || len(r.RemovalsDue) != 0 {
		t.Fatalf("after another activation's partial update: %+v", r)
	}
	// Long after the drop, a partial update is taken again (the holder may have restarted and
	// the grain not know).
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "other", Drop: true}, now.Add(3*droppedMemory))
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "other", Drop: true}, now.Add(5*droppedMemory))
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "other", Owner: "m1", Version: 1, MembersAdded: []string{"a"}}, now.Add(5*droppedMemory))
	if r := s.get(node.Key("app", "other"), "m2"); r != nil {
		t.Fatalf("a partial update right after a drop was taken: %+v", r)
	}
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "other", Drop: true}, now.Add(7*droppedMemory))
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "third", Drop: true}, now.Add(9*droppedMemory))
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "third", Drop: true}, now.Add(11*droppedMemory))
	s.apply(&messages.ReplicaUpdate{AppId: "app", Channel: "other", Owner: "m1", Version: 2, MembersAdded: []string{"a"}}, now.Add(11*droppedMemory))
	if r := s.get(node.Key("app", "other"), "m2"); r == nil || len(r.Members) != 1 {
		t.Fatalf("a partial update two generations after a drop: %+v", r)
	}
}
