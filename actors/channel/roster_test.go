package channel

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
)

type presenceData struct {
	Presence struct {
		IDs   []string                   `json:"ids"`
		Hash  map[string]json.RawMessage `json:"hash"`
		Count int                        `json:"count"`
	} `json:"presence"`
}

// decodePresence decodes a subscription_succeeded frame down to its presence data.
func decodePresence(t *testing.T, frame []byte) presenceData {
	t.Helper()
	var f struct {
		Event, Channel, Data string
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatalf("frame %s: %v", frame, err)
	}
	if f.Event != "pusher_internal:subscription_succeeded" || f.Channel != "presence-x" {
		t.Fatalf("frame %s", frame)
	}
	var p presenceData
	if err := json.Unmarshal([]byte(f.Data), &p); err != nil {
		t.Fatalf("roster JSON %s: %v", f.Data, err)
	}
	return p
}

func TestRosterOneMemberManySockets(t *testing.T) {
	r := newRoster()
	steps := []struct {
		op, user, node string
		want           bool // add: new member; remove: member left
		count          int
	}{
		{"add", "u1", "n1", true, 1},
		{"add", "u1", "n1", false, 1}, // second socket of u1 on the same node
		{"add", "u1", "n2", false, 1}, // and on another node
		{"add", "u2", "n2", true, 2},
		{"remove", "u1", "n1", false, 2},
		{"remove", "u1", "n2", false, 2},
		{"remove", "u1", "n1", true, 1},  // the last socket of u1
		{"remove", "u1", "n1", false, 1}, // already gone: no second member_removed
		{"remove", "u2", "n1", false, 1}, // u2 has no socket on n1
		{"remove", "u2", "n2", true, 0},
	}
	for i, s := range steps {
		var got bool
		if s.op == "add" {
			got = r.add(s.user, []byte(`{"n":1}`), s.node)
		} else {
			got = r.remove(s.user, s.node)
		}
		if got != s.want || r.count() != s.count {
			t.Fatalf("step %d %+v: got %v count %d", i, s, got, r.count())
		}
	}
}

func TestRosterRemoveNode(t *testing.T) {
	r := newRoster()
	r.add("a", nil, "n1")
	r.add("b", nil, "n1")
	r.add("b", nil, "n2")
	r.add("c", nil, "n2")
	left := r.removeNode("n1")
	sort.Strings(left)
	if fmt.Sprint(left) != "[a]" || r.count() != 2 {
		t.Fatalf("left %v count %d", left, r.count())
	}
	if r.removeNode("n1") != nil {
		t.Fatal("removing a node twice must remove nobody")
	}
}

func TestRosterEncoding(t *testing.T) {
	r := newRoster()
	r.add("1", []byte(`{"name":"Ann \"A\""}`), "n")
	r.add("2", nil, "n")
	r.add("3", []byte(`[1,2]`), "n")
	p := decodePresence(t, r.succeededFrame("presence-x"))
	if p.Presence.Count != 3 || len(p.Presence.IDs) != 3 || string(p.Presence.Hash["2"]) != "null" ||
		string(p.Presence.Hash["1"]) != `{"name":"Ann \"A\""}` {
		t.Fatalf("%+v", p)
	}
	first := r.succeededFrame("presence-x")
	if &first[0] != &r.succeededFrame("presence-x")[0] {
		t.Fatal("an unchanged roster must reuse its encoding")
	}
	r.remove("1", "n")
	r.add("4", []byte(`"\u2028<"`), "n")
	p = decodePresence(t, r.succeededFrame("presence-x"))
	if p.Presence.Count != 3 || p.Presence.Hash["1"] != nil || string(p.Presence.Hash["4"]) != `"\u2028<"` ||
		fmt.Sprint(p.Presence.IDs) != "[3 2 4]" {
		t.Fatalf("after remove: %+v", p)
	}
}

// BenchmarkRosterJoin100k measures one new member joining a roster of 100,000, including the
// subscription_succeeded frame (the whole roster) the joining socket receives.
func BenchmarkRosterJoin100k(b *testing.B) {
	r := newRoster()
	info := []byte(`{"name":"user"}`)
	for i := 0; i < 100_000; i++ {
		r.add(fmt.Sprintf("user-%d", i), info, "n1")
	}
	_ = r.succeededFrame("presence-x")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.add(fmt.Sprintf("new-%d", i), info, "n1")
		_ = r.succeededFrame("presence-x")
	}
}

// BenchmarkRosterChurn100k is a leave followed by a join at 100,000 members: the leave makes
// the next frame rebuild the roster from the members' escaped entries.
func BenchmarkRosterChurn100k(b *testing.B) {
	r := newRoster()
	info := []byte(`{"name":"user"}`)
	for i := 0; i < 100_000; i++ {
		r.add(fmt.Sprintf("user-%d", i), info, "n1")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("user-%d", i%100_000)
		r.remove(id, "n1")
		r.add(id, info, "n1")
		_ = r.succeededFrame("presence-x")
	}
}

// BenchmarkRosterMembership100k measures add and remove of a second socket of an existing
// member (no roster change), the common case that must stay O(1).
func BenchmarkRosterMembership100k(b *testing.B) {
	r := newRoster()
	for i := 0; i < 100_000; i++ {
		r.add(fmt.Sprintf("user-%d", i), nil, "n1")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.add("user-5", nil, "n2")
		r.remove("user-5", "n2")
	}
}
