package channel

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
)

func TestSubscribers(t *testing.T) {
	s := newSubscribers()
	n1, n2 := actor.NewPID("host1:1", "fanout"), actor.NewPID("host2:1", "fanout")
	if !s.add("1.1", "k1", n1, "u1") || !s.add("1.2", "k1", n1, "u2") || !s.add("2.1", "k2", n2, "u1") {
		t.Fatal("a new socket was not added")
	}
	if s.add("1.1", "k1", n1, "u1") {
		t.Fatal("a socket was counted twice")
	}
	var fanouts []string
	s.fanouts(func(p *actor.PID) { fanouts = append(fanouts, p.Address) })
	sort.Strings(fanouts)
	if s.count() != 3 || fmt.Sprint(fanouts) != "[host1:1 host2:1]" {
		t.Fatalf("count %d fanouts %v", s.count(), fanouts)
	}
	if sub, ok := s.remove("1.1"); !ok || sub.node != "k1" || sub.userID != "u1" {
		t.Fatalf("remove: %+v %v", sub, ok)
	}
	if _, ok := s.remove("1.1"); ok {
		t.Fatal("removed twice")
	}
	if gone := s.removeAddress("host1:1"); fmt.Sprint(gone) != "[k1]" || s.count() != 1 || s.has("1.2") {
		t.Fatalf("removeAddress: %v, count %d", gone, s.count())
	}
	s.remove("2.1")
	fanouts = nil
	s.fanouts(func(p *actor.PID) { fanouts = append(fanouts, p.Address) })
	if s.count() != 0 || len(fanouts) != 0 {
		t.Fatalf("empty subscribers: count %d fanouts %v", s.count(), fanouts)
	}
}

func TestLastEvent(t *testing.T) {
	var c lastEvent
	now := time.Unix(1000, 0)
	if c.get(now) != nil {
		t.Fatal("an empty cache has an event")
	}
	c.set([]byte("one"), now, time.Minute)
	if string(c.get(now.Add(time.Minute-time.Nanosecond))) != "one" {
		t.Fatal("the event expired early")
	}
	if c.get(now.Add(time.Minute)) != nil {
		t.Fatal("the event outlived its TTL")
	}
	c.set([]byte("two"), now, time.Minute)
	if string(c.get(now)) != "two" {
		t.Fatal("a new event did not replace the expired one")
	}
}

func TestWebhookDebouncer(t *testing.T) {
	t.Run("occupied then vacated after the delay", func(t *testing.T) {
		d := newWebhookDebouncer()
		if !d.occupied() || d.occupied() {
			t.Fatal("channel_occupied must be sent once")
		}
		gen := d.vacated(time.Time{})
		if gen == 0 || !d.pending() {
			t.Fatal("no vacate check scheduled")
		}
		if !d.vacateDue(gen, true) || d.pending() {
			t.Fatal("channel_vacated not sent after the delay")
		}
		if !d.occupied() {
			t.Fatal("a new occupation after a vacate must be announced")
		}
	})
	t.Run("back within the delay", func(t *testing.T) {
		d := newWebhookDebouncer()
		d.occupied()
		gen := d.vacated(time.Time{})
		if d.occupied() {
			t.Fatal("channel_occupied sent for a return within the delay")
		}
		if d.vacateDue(gen, true) {
			t.Fatal("channel_vacated sent though the channel came back")
		}
	})
	t.Run("vacated without an announced occupation", func(t *testing.T) {
		d := newWebhookDebouncer()
		if d.vacated(time.Time{}) != 0 {
			t.Fatal("a vacate check for a channel never announced")
		}
	})
	t.Run("stale check", func(t *testing.T) {
		d := newWebhookDebouncer()
		d.occupied()
		old := d.vacated(time.Time{})
		d.occupied()                    // back: the check is dropped
		fresh := d.vacated(time.Time{}) // gone again: a new check
		if d.vacateDue(old, true) {
			t.Fatal("a stale check sent channel_vacated")
		}
		if !d.vacateDue(fresh, true) {
			t.Fatal("the current check did not")
		}
	})
	t.Run("member reload", func(t *testing.T) {
		d := newWebhookDebouncer()
		if !d.memberAdded("u") {
			t.Fatal("member_added not sent")
		}
		gen := d.memberRemoved("u", time.Time{})
		if d.memberAdded("u") {
			t.Fatal("member_added sent for a return within the delay")
		}
		if d.removalDue("u", gen, true) || d.pending() {
			t.Fatal("member_removed sent though the member came back")
		}
	})
	t.Run("member leaves", func(t *testing.T) {
		d := newWebhookDebouncer()
		d.memberAdded("u")
		gen := d.memberRemoved("u", time.Time{})
		if !d.removalDue("u", gen, false) {
			t.Fatal("member_removed not sent")
		}
		if d.removalDue("u", gen, false) {
			t.Fatal("member_removed sent twice")
		}
	})
}

func TestCountCoalescer(t *testing.T) {
	c := newCountCoalescer()
	if !c.changed() || c.changed() {
		t.Fatal("one update must be scheduled per interval")
	}
	if !c.due(5) {
		t.Fatal("the first count must be sent")
	}
	if !c.changed() || c.due(5) {
		t.Fatal("an unchanged count must not be sent again")
	}
	c.changed()
	if !c.due(0) {
		t.Fatal("a changed count must be sent")
	}
}

func TestRebuild(t *testing.T) {
	r := newRebuild()
	for _, m := range []string{"m1", "m2", "m3", "m2"} {
		r.ask(m)
	}
	if r.waiting != 3 {
		t.Fatalf("waiting for %d members, want 3: each is asked once", r.waiting)
	}
	r.hold(nil, "m1")
	if r.answered("m1", []string{"a", "b"}, &messages.ChannelReplica{Holder: "m1", Version: 7}) ||
		r.answered("m1", nil, nil) || r.answered("m9", nil, nil) || r.answered("m2", nil, nil) {
		t.Fatal("done before every member answered (a repeat or a member not asked counts for nothing)")
	}
	if fmt.Sprint(r.silent()) != "[m3]" {
		t.Fatalf("silent %v, want [m3]", r.silent())
	}
	r.hold(nil, "m2")
	if !r.answered("m3", []string{"b", "c"}, &messages.ChannelReplica{Holder: "m3", Version: 3}) {
		t.Fatal("not done after every member answered")
	}
	if r.replica.Holder != "m1" || fmt.Sprint(r.holders) != "[m1 m3]" {
		t.Fatalf("the newest replica is m1's of two: %v of %v", r.replica.Holder, r.holders)
	}
	lost := r.lost(func(id string) bool { return id == "b" })
	slices.Sort(lost)
	if fmt.Sprint(lost) != "[a c]" {
		t.Fatalf("lost %v, want [a c]", lost)
	}
	if len(r.held) != 2 || r.held[0].msg != "m1" || r.held[1].msg != "m2" {
		t.Fatalf("held %+v", r.held)
	}
}

// An activation that found no replica writes versions above any copy an earlier one left: a
// later rebuild takes its state, not a stale copy.
func TestReplicationVersions(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	var stale replication
	staleVersion := stale.nextVersion(start)
	if v := stale.nextVersion(start); v != staleVersion+1 {
		t.Fatalf("two updates at one instant: %d then %d", staleVersion, v)
	}
	var fresh replication // found nothing to go on from: starts at zero
	if v := fresh.nextVersion(start.Add(time.Second)); v <= staleVersion+1 {
		t.Fatalf("a later activation's first version %d is not above the stale copy's %d", v, staleVersion+1)
	}
	restored := replication{version: uint64(start.Add(time.Hour).UnixNano())} // a clock behind the copy's
	if v := restored.nextVersion(start); v != uint64(start.Add(time.Hour).UnixNano())+1 {
		t.Fatalf("a restored activation goes on from the replica's version, got %d", v)
	}
}

// The removals a new activation schedules itself: those the replica never heard of.
func TestRebuildUnheardRemovals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	delay := 3 * time.Second
	ns := func(d time.Duration) int64 { return now.Add(d).UnixNano() }
	r := newRebuild()
	r.removedLately(map[string]int64{"old": ns(-5 * time.Second), "new": ns(-time.Second), "back": ns(-time.Second), "lost": ns(-time.Second)})
	r.removedLately(map[string]int64{"old": ns(-6 * time.Second)}) // another node's older record
	r.knownMembers["lost"] = true                                  // a mirror still has it: removed as lost
	skip := func(id string) bool { return id == "back" }           // present again

	// No replica: only the checks not due yet.
	if got := r.unheard(skip, now, delay); len(got) != 1 || !got["new"].Equal(now.Add(2*time.Second)) {
		t.Fatalf("without a replica: %v, want new due in 2 s", got)
	}
	// A replica written before both removals heard of neither: both, the overdue one at once.
	r.replica = &messages.ChannelReplica{Version: uint64(ns(-10 * time.Second))}
	got := r.unheard(skip, now, delay)
	if len(got) != 2 || !got["old"].Equal(now.Add(-2*time.Second)) || !got["new"].Equal(now.Add(2*time.Second)) {
		t.Fatalf("with a replica older than the removals: %v", got)
	}
	// A replica written after the first removal knew of it.
	r.replica.Version = uint64(ns(-4 * time.Second))
	if got := r.unheard(skip, now, delay); len(got) != 1 || got["new"].IsZero() {
		t.Fatalf("with a replica between the removals: %v, want new only", got)
	}
}
