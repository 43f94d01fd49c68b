package channel

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
)

// fixture: a publish's sender on host1 and two fan-outs on third nodes.
var (
	epoch        = time.Unix(1000, 0)
	fanoutA      = actor.NewPID("host2:1", "fanout-a")
	fanoutB      = actor.NewPID("host3:1", "fanout-b")
	publisherPID = actor.NewPID("host1:1", "future")
)

func TestUnconfirmedAnswersOnceEveryFanoutConfirmed(t *testing.T) {
	u := newUnconfirmed(30 * time.Second)
	now, a, b, sender := epoch, fanoutA, fanoutB, publisherPID
	u.wait(&messages.Deliver{PublishId: "p1"}, []*actor.PID{a, b}, sender, now)
	if u.get("p1") == nil {
		t.Fatal("p1 does not wait")
	}
	if p := u.confirmed("p1", a); p != nil {
		t.Fatal("answered with b still to confirm")
	}
	if p := u.confirmed("p1", a); p != nil {
		t.Fatal("a confirmation counted twice")
	}
	p := u.confirmed("p1", actor.NewPID("host3:1", "fanout-b"))
	if p == nil || p.sender != sender || p.id != "p1" {
		t.Fatalf("last confirmation: %+v", p)
	}
	if u.get("p1") != nil || u.confirmed("p1", b) != nil {
		t.Fatal("p1 still waits after its answer")
	}
}

func TestUnconfirmedStopsWaitingForWhatIsGone(t *testing.T) {
	u := newUnconfirmed(30 * time.Second)
	now, a, b, sender := epoch, fanoutA, fanoutB, publisherPID
	u.wait(&messages.Deliver{PublishId: "p1"}, []*actor.PID{a, b}, sender, now)
	u.wait(&messages.Deliver{PublishId: "p2"}, []*actor.PID{a}, sender, now)
	u.wait(&messages.Deliver{PublishId: "p3"}, []*actor.PID{b}, sender, now)
	if done := u.fanoutGone(node.PIDKey(a)); len(done) != 1 || done[0].id != "p2" {
		t.Fatalf("a's node has no socket left: finished %v", ids(done))
	}
	if done := u.memberGone("host3:1"); len(done) != 2 {
		t.Fatalf("b's member left: finished %v", ids(done))
	}
	if u.get("p1") != nil || u.get("p3") != nil {
		t.Fatal("publishes still wait for a member that left")
	}
	u.wait(&messages.Deliver{PublishId: "p4"}, []*actor.PID{a}, sender, now)
	if all := u.abandon(); len(all) != 1 || all[0].id != "p4" || u.get("p4") != nil {
		t.Fatalf("abandon: %v", ids(all))
	}
}

func TestUnconfirmedLetsGoAfterKeep(t *testing.T) {
	u := newUnconfirmed(30 * time.Second)
	now, a, sender := epoch, fanoutA, publisherPID
	u.wait(&messages.Deliver{PublishId: "old"}, []*actor.PID{a}, sender, now)
	u.wait(&messages.Deliver{PublishId: "answered"}, []*actor.PID{a}, sender, now.Add(time.Second))
	u.confirmed("answered", a)
	u.wait(&messages.Deliver{PublishId: "new"}, []*actor.PID{a}, sender, now.Add(31*time.Second))
	if u.get("old") != nil {
		t.Fatal("a publish unanswered for longer than keep is still held")
	}
	if u.get("new") == nil || len(u.byID) != 1 {
		t.Fatalf("held %d, want only the new one", len(u.byID))
	}
}

func TestAwaitsConfirmation(t *testing.T) {
	grain, sender := actor.NewPID("host1:1", "grain"), actor.NewPID("host2:1", "future")
	for _, c := range []struct {
		fanout string
		want   bool
	}{{"host1:1", false}, {"host2:1", false}, {"host3:1", true}} {
		if got := awaitsConfirmation(actor.NewPID(c.fanout, "f"), grain, sender); got != c.want {
			t.Errorf("fan-out on %s: %v, want %v", c.fanout, got, c.want)
		}
	}
	if awaitsConfirmation(actor.NewPID("host3:1", "f"), grain, nil) {
		t.Error("a publish nobody waits for awaits confirmation")
	}
}

func ids(ps []*pendingPublish) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.id)
	}
	return out
}
