package node

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// instanceSpawner starts actors that their callers built, all with one Props (SpawnInstance).
type instanceSpawner struct {
	once  sync.Once
	root  *actor.RootContext // spawns under a guardian that resumes a failed actor
	props *actor.Props
	mu    sync.Mutex
	next  actor.Actor // the actor being spawned, under mu
}

// SpawnInstance starts a, an actor the caller built, on the node's mailboxes.
//
// proto.actor keeps an actor's Props for the actor's life, and Props made for each spawn (with a
// producer that returns a) cost about 300 bytes: for connection actors, one per socket, idle or
// not. So these actors share one Props, whose producer hands out the actor being spawned, under a
// lock (a spawn takes a few microseconds).
//
// proto.actor calls a producer again only to restart an actor that failed. These actors are
// resumed instead, by their guardian: they keep their state and skip the message that failed.
func (n *Node) SpawnInstance(a actor.Actor) *actor.PID {
	s := &n.instances
	s.once.Do(func() {
		resume := actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.ResumeDirective })
		s.root = n.Root.Copy().WithGuardian(resume)
		s.props = n.Props(func() actor.Actor {
			a := s.next
			if a == nil {
				panic("node: an actor started by SpawnInstance was produced again; its guardian should have resumed it")
			}
			s.next = nil
			return a
		})
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = a
	return s.root.Spawn(s.props)
}
