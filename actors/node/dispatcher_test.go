package node

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Every scheduled run runs, parked workers are reused, and no more stay parked than allowed.
func TestMailboxesRunEverything(t *testing.T) {
	m := NewMailboxes(10, 4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	for range 1000 {
		wg.Add(1)
		m.Schedule(func() {
			mu.Lock()
			ran++
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	if ran != 1000 {
		t.Fatalf("ran %d of 1000", ran)
	}
	if p := m.parked.Load(); p > 4 {
		t.Fatalf("%d workers parked, at most 4 allowed", p)
	}
}

// Stop lets the parked workers go, and runs scheduled after it still run.
func TestMailboxesStopLetsParkedWorkersGo(t *testing.T) {
	m := NewMailboxes(10, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		m.Schedule(wg.Done)
	}
	wg.Wait()
	m.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for m.parked.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still parked after Stop", m.parked.Load())
		}
		runtime.Gosched()
	}
	done := make(chan struct{})
	m.Schedule(func() { close(done) })
	<-done
	if p := m.parked.Load(); p != 0 {
		t.Fatalf("%d workers parked after Stop", p)
	}
}

// A run that blocks does not hold up the others: scheduling never waits for a worker.
func TestMailboxesABlockedRunHoldsNoOther(t *testing.T) {
	m := NewMailboxes(10, 1)
	release := make(chan struct{})
	m.Schedule(func() { <-release })
	done := make(chan struct{})
	m.Schedule(func() { close(done) })
	<-done // would hang if the second waited for the first's worker
	close(release)
}

// Actors on the node's mailboxes receive their messages in order.
func TestMailboxesServeActors(t *testing.T) {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	n := &Node{Mailboxes: NewMailboxes(300, 8)}
	got := make(chan int, 100)
	pid := system.Root.Spawn(n.Props(func() actor.Actor {
		return actorFunc(func(ctx actor.Context) {
			if v, ok := ctx.Message().(int); ok {
				got <- v
			}
		})
	}))
	for i := range 100 {
		system.Root.Send(pid, i)
	}
	for i := range 100 {
		if v := <-got; v != i {
			t.Fatalf("message %d arrived as %d-th", v, i)
		}
	}
}

type actorFunc func(actor.Context)

func (f actorFunc) Receive(ctx actor.Context) { f(ctx) }
