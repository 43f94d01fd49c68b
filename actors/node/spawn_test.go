package node

import (
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// counter counts the ints it receives and reports each count; it fails on a negative one.
type counter struct {
	id    int
	count int
	out   chan<- [2]int // id, count
}

func (c *counter) Receive(ctx actor.Context) {
	if v, ok := ctx.Message().(int); ok {
		if v < 0 {
			panic("negative")
		}
		c.count++
		c.out <- [2]int{c.id, c.count}
	}
}

// Actors spawned at once with the shared Props each get their own instance, and a failure
// resumes the actor that failed with its state, as the producer that returned the same instance
// did before.
func TestSpawnInstance(t *testing.T) {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	n := &Node{Root: system.Root, Mailboxes: NewMailboxes(300, 8)}
	const actors = 50
	out := make(chan [2]int, 4*actors)
	pids := make([]*actor.PID, actors)
	var wg sync.WaitGroup
	for i := range actors {
		wg.Go(func() { pids[i] = n.SpawnInstance(&counter{id: i, out: out}) })
	}
	wg.Wait()
	for i, pid := range pids {
		system.Root.Send(pid, 1)
		if got := answer(t, out); got != [2]int{i, 1} {
			t.Fatalf("actor %d answered as actor %d with count %d", i, got[0], got[1])
		}
	}
	system.Root.Send(pids[7], -1) // fails
	system.Root.Send(pids[7], 1)
	if got := answer(t, out); got != [2]int{7, 2} {
		t.Fatalf("after a failure, actor 7 answered %v, want [7 2]: it was not resumed with its state", got)
	}
}

// answer waits for the next answer; none in 10 s is an actor that no longer runs (a deadline
// against a hang, not a timing).
func answer(t *testing.T, out <-chan [2]int) [2]int {
	t.Helper()
	select {
	case got := <-out:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("no answer: the actor stopped or was not resumed")
		return [2]int{}
	}
}
