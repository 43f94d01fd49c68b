package cluster

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
)

// A rebuild of a grain elsewhere stops this member's stale activation of it, and only that one.
func TestPlacementStopsASupersededActivation(t *testing.T) {
	system := actor.NewActorSystem()
	stopped := make(chan string, 4)
	spawnGrain := func(name string) *actor.PID {
		pid, err := system.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*actor.Stopped); ok {
				stopped <- name
			}
		}), name)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	stale, other := spawnGrain("stale"), spawnGrain("other")
	p := &placementActor{
		byKey: map[string]*actor.PID{"channel/a/c1": stale, "channel/a/c2": other},
		byPID: map[string]*cluster.ClusterIdentity{stale.Id: {Kind: "channel", Identity: "a/c1"}, other.Id: {Kind: "channel", Identity: "a/c2"}},
	}
	placement := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
	rebuilding := actor.NewPID("127.0.0.1:7102", "channel/a/c1")

	system.Root.Send(placement, supersede{kind: "channel", identity: "a/c2", by: other}) // its own rebuild: kept
	system.Root.Send(placement, supersede{kind: "channel", identity: "a/c1", by: rebuilding})
	select {
	case name := <-stopped:
		if name != "stale" {
			t.Fatalf("%s stopped, want the stale activation", name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the superseded activation did not stop")
	}
	_ = system.Root.PoisonFuture(placement).Wait() // the placement actor has handled both
	select {
	case name := <-stopped:
		t.Fatalf("%s stopped too", name)
	default:
	}
	if p.byKey["channel/a/c1"] != nil || p.byPID[stale.Id] != nil || p.byKey["channel/a/c2"] == nil {
		t.Fatalf("placement after the supersede: %v %v", p.byKey, p.byPID)
	}
}
