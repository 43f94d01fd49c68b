package fanout

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/actors/node/nodetest"
	"github.com/herald-io/herald/configs"
)

// movingGrains is a Locator whose channel grain is whichever PID the test set last: a grain
// that moves.
type movingGrains struct {
	mu  sync.Mutex
	pid *actor.PID
}

func (g *movingGrains) set(pid *actor.PID) { g.mu.Lock(); g.pid = pid; g.mu.Unlock() }
func (g *movingGrains) ChannelPID(string, string) *actor.PID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pid
}
func (g *movingGrains) UserPID(string, string) *actor.PID  { return nil }
func (g *movingGrains) Release(string, string, *actor.PID) {}
func (g *movingGrains) Forget(string, string)              {}
func (g *movingGrains) TopologyChanged()                   {}

// newNode is a node of one app whose fan-outs find the grain the test sets on grains.
func newNode(t *testing.T) (*actor.ActorSystem, *node.Node, *movingGrains) {
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	grains := &movingGrains{}
	n := &node.Node{
		Root: system.Root, Clock: nodetest.NewClock(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Apps:   node.NewApps([]configs.App{configs.DefaultApp("app", "key", "secret")}, nil),
		Grains: grains, Members: func() []string { return nil },
	}
	n.Fanouts = node.NewRegistry(system.Root, func(key string) *actor.Props { return Props(n, key) })
	return system, n, grains
}

// recorder is a grain that answers nothing and passes on what it gets.
func recorder(system *actor.ActorSystem, got chan<- any) *actor.PID {
	return system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *messages.Subscribe, *messages.Unsubscribe, *messages.ChannelInfoRequest:
			got <- m
		}
	}))
}

func next[T any](t *testing.T, got <-chan any, what string) T {
	t.Helper()
	for {
		select {
		case m := <-got:
			if v, ok := m.(T); ok {
				return v
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
}

func none[T any](t *testing.T, got <-chan any, what string) {
	t.Helper()
	deadline := time.After(200 * time.Millisecond) // an absence: bounded by a wait
	for {
		select {
		case m := <-got:
			if _, ok := m.(T); ok {
				t.Fatalf("unexpected %s: %v", what, m)
			}
		case <-deadline:
			return
		}
	}
}

// A socket that leaves while its subscribe is unanswered, and a grain that moved and counted it
// anyway (it answers late, or a rebuild asked before the leave): that grain is told it left, on
// its answer and again on a topology change, until the socket subscribes again.
func TestLeaveReachesTheGrainThatMoved(t *testing.T) {
	system, n, grains := newNode(t)

	gotA, gotB := make(chan any, 16), make(chan any, 16)
	grainA, grainB := recorder(system, gotA), recorder(system, gotB)
	grains.set(grainA)

	const channel, socket = "presence-room", "1.1"
	key := node.Key("app", channel)
	join := &messages.Join{SocketID: socket, Sink: nodetest.NewSink(), UserID: "u1"}
	fan := n.Fanouts.Request(system.Root, key, join)
	next[*messages.Subscribe](t, gotA, "subscribe at the first grain")

	system.Root.Send(fan, &messages.Leave{SocketID: socket})
	if u := next[*messages.Unsubscribe](t, gotA, "unsubscribe at the first grain"); u.SocketId != socket {
		t.Fatalf("unsubscribe of %q", u.SocketId)
	}

	// The fan-out takes its messages in order: once it answers this, it has handled the leave.
	if _, err := system.Root.RequestFuture(fan, &messages.NodeStateRequest{AppId: "app", Channel: channel}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	if keys := n.Fanouts.Keys(""); len(keys) > 0 {
		t.Fatalf("the node still lists %d channels after the only socket left", len(keys))
	}
	if _, ok := n.Fanouts.Lookup(key); !ok {
		t.Fatal("the fan-out stopped while it remembers the leave")
	}

	// The grain moved; its new activation counted the socket and answers now.
	grains.set(grainB)
	system.Root.Send(fan, &messages.SubscribeResult{SocketId: socket, Ok: true, Grain: grainB})
	if u := next[*messages.Unsubscribe](t, gotB, "unsubscribe at the grain that answered late"); u.SocketId != socket {
		t.Fatalf("unsubscribe of %q", u.SocketId)
	}
	system.Root.Send(fan, &messages.TopologyChanged{})
	next[*messages.Unsubscribe](t, gotB, "unsubscribe again after a topology change")

	// Subscribed again: the leave before it is done with.
	n.Fanouts.Request(system.Root, key, join)
	next[*messages.Subscribe](t, gotB, "subscribe again")
	if keys := n.Fanouts.Keys(""); len(keys) != 1 {
		t.Fatalf("the node lists %d channels with a socket subscribing, want 1", len(keys))
	}
	system.Root.Send(fan, &messages.TopologyChanged{})
	next[*messages.Subscribe](t, gotB, "the pending subscribe asked again after a topology change")
	none[*messages.Unsubscribe](t, gotB, "unsubscribe of a socket that subscribed again")
}

// presenceFanout is the fan-out of presence-room on a new node, with socket 1.1 of user u1
// subscribed and the grain's roster of members; nodeState asks it as a rebuilding grain does.
func presenceFanout(t *testing.T, members ...string) (system *actor.ActorSystem, fan *actor.PID, nodeState func() *messages.NodeState) {
	t.Helper()
	system, n, grains := newNode(t)
	got := make(chan any, 16)
	grain := recorder(system, got)
	grains.set(grain)
	fan = n.Fanouts.Request(system.Root, node.Key("app", "presence-room"), &messages.Join{SocketID: "1.1", Sink: nodetest.NewSink(), UserID: "u1", Conn: recorder(system, make(chan any, 16))})
	next[*messages.Subscribe](t, got, "subscribe")
	system.Root.Send(fan, &messages.SubscribeResult{SocketId: "1.1", Ok: true, Grain: grain, MemberIds: members})
	return system, fan, func() *messages.NodeState {
		t.Helper()
		res, err := system.Root.RequestFuture(fan, &messages.NodeStateRequest{AppId: "app", Channel: "presence-room"}, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res.(*messages.NodeState)
	}
}

// A node whose sockets all left reports no members to a rebuilding grain: the grain delivers
// nothing to it any more, so its mirror of the roster would be stale.
func TestMirrorOfTheRosterGoesWithTheSockets(t *testing.T) {
	system, fan, nodeState := presenceFanout(t, "u1", "u2")
	if k := nodeState().KnownMembers; len(k) != 2 {
		t.Fatalf("known members %v with a socket subscribed, want u1 and u2", k)
	}
	system.Root.Send(fan, &messages.Leave{SocketID: "1.1"})
	if k := nodeState().KnownMembers; len(k) != 0 {
		t.Fatalf("known members %v once the only socket left, want none", k)
	}
}

// The removals a node saw go to a rebuilding grain with when the grain made them, until the
// member is back.
func TestRecentRemovalsReachARebuild(t *testing.T) {
	system, fan, nodeState := presenceFanout(t, "u1", "u2", "u3")
	system.Root.Send(fan, &messages.Deliver{MemberRemoved: "u2", RemovedUnixNano: 100})
	system.Root.Send(fan, &messages.Deliver{MemberRemoved: "u3", RemovedUnixNano: 200})
	system.Root.Send(fan, &messages.Deliver{MemberAdded: "u3"})
	if r := nodeState().RecentlyRemoved; len(r) != 1 || r["u2"] != 100 {
		t.Fatalf("recently removed %v, want u2 at 100 (u3 is back)", r)
	}
}

func TestRecentRemovalsForgetTheOld(t *testing.T) {
	var r recentRemovals
	keep := 10 * time.Nanosecond
	for i := range 100 {
		r.add(fmt.Sprint(i), int64(i), keep)
	}
	// Old entries go in passes: the map holds about twice what keep covers, never all 100.
	if _, ok := r.byUser["0"]; ok || len(r.byUser) >= 40 {
		t.Fatalf("kept %d, the first among them: %v", len(r.byUser), r.byUser)
	}
	if _, ok := r.byUser["99"]; !ok {
		t.Fatalf("kept %d: %v", len(r.byUser), r.byUser)
	}
}

// sharedSink keeps the shared frames a socket gets.
type sharedSink struct{ frames []*node.Frame }

func (s *sharedSink) Send([]byte)                { panic("not a channel's frame") }
func (s *sharedSink) SendShared(f *node.Frame)   { s.frames = append(s.frames, f) }
func (s *sharedSink) Close(code int, why string) {}

// A delivery's frame carries when herald took its event, moved from the node's clock to the
// real one (the transport measures its sockets' queueing on the real clock), and the node counts
// the event and its bytes once, for the HTTP API's pace.
func TestWriteStampsWhenTheEventWasTaken(t *testing.T) {
	_, n, _ := newNode(t)
	a, b := &sharedSink{}, &sharedSink{}
	f := &Fanout{n: n, sockets: []localSocket{{id: "a", sink: a}, {id: "b", sink: b}, {id: "c", sink: &sharedSink{}}}}
	took := n.Clock.Now().Add(-3 * time.Second)
	f.write(&messages.Deliver{Frame: []byte("0123456789"), AcceptedUnixNano: took.UnixNano(), ExcludeSocketId: "c"})
	if len(a.frames) != 1 || len(b.frames) != 1 || a.frames[0] != b.frames[0] {
		t.Fatalf("the sockets got %d and %d frames, want the same one each", len(a.frames), len(b.frames))
	}
	if waited := time.Since(a.frames[0].Taken); waited < 3*time.Second || waited > time.Minute {
		t.Fatalf("the frame says its event was taken %v ago, want 3 s", waited)
	}
	if ev, by := n.Fanned.Events.Load(), n.Fanned.Bytes.Load(); ev != 1 || by != 20 {
		t.Fatalf("counted %d events of %d bytes, want 1 of 20 (10 bytes to 2 sockets)", ev, by)
	}
	f.write(&messages.Deliver{Frame: []byte("x")}) // taken when unknown: the socket's own time
	if !a.frames[1].Taken.IsZero() {
		t.Fatalf("a frame of an event taken at no known time carries %v", a.frames[1].Taken)
	}
	// The grain's take, when the grain stamped it, over the HTTP API's (a publish sent again
	// after its grain died was accepted long before it was taken).
	f.write(&messages.Deliver{Frame: []byte("y"), AcceptedUnixNano: took.UnixNano(), TakenUnixNano: n.Clock.Now().Add(-time.Second).UnixNano()})
	if waited := time.Since(a.frames[2].Taken); waited < time.Second || waited >= 3*time.Second {
		t.Fatalf("the frame says its event was taken %v ago, want the grain's 1 s", waited)
	}
}

// A join that made a new member: the grain's answer carries its member_added, which the fan-out
// writes to its other sockets (not the joining one) and keeps in its mirror of the roster, also
// when the joining socket left before the answer came.
func TestMemberAddedComesWithTheAnswer(t *testing.T) {
	system, n, grains := newNode(t)
	got := make(chan any, 16)
	grain := recorder(system, got)
	grains.set(grain)
	key := node.Key("app", "presence-room")
	conn := recorder(system, make(chan any, 16))
	first, joining, leaving := nodetest.NewSink(), nodetest.NewSink(), nodetest.NewSink()
	fan := n.Fanouts.Request(system.Root, key, &messages.Join{SocketID: "1.1", Sink: first, UserID: "u1", Conn: conn})
	next[*messages.Subscribe](t, got, "subscribe of 1.1")
	system.Root.Send(fan, &messages.SubscribeResult{SocketId: "1.1", Ok: true, Grain: grain, Frame: []byte(`{"event":"pusher_internal:subscription_succeeded"}`), MemberIds: []string{"u1"}})
	first.Expect(t, "pusher_internal:subscription_succeeded")

	added := func(user, socket string) *messages.Deliver {
		return &messages.Deliver{Frame: []byte(`{"event":"pusher_internal:member_added","data":"` + user + `"}`), ExcludeSocketId: socket, MemberAdded: user}
	}
	n.Fanouts.Request(system.Root, key, &messages.Join{SocketID: "1.2", Sink: joining, UserID: "u2", Conn: conn})
	next[*messages.Subscribe](t, got, "subscribe of 1.2")
	system.Root.Send(fan, &messages.SubscribeResult{SocketId: "1.2", Ok: true, Grain: grain, Frame: []byte(`{"event":"pusher_internal:subscription_succeeded"}`), MemberAdded: added("u2", "1.2")})
	joining.Expect(t, "pusher_internal:subscription_succeeded")
	if f := first.Expect(t, "pusher_internal:member_added"); f.DataString(t) != "u2" {
		t.Fatalf("member_added of %q, want u2", f.DataString(t))
	}

	n.Fanouts.Request(system.Root, key, &messages.Join{SocketID: "1.3", Sink: leaving, UserID: "u3", Conn: conn})
	next[*messages.Subscribe](t, got, "subscribe of 1.3")
	system.Root.Send(fan, &messages.Leave{SocketID: "1.3"})
	system.Root.Send(fan, &messages.SubscribeResult{SocketId: "1.3", Ok: true, Grain: grain, MemberAdded: added("u3", "1.3")})
	next[*messages.Unsubscribe](t, got, "unsubscribe of 1.3, answered after it left")
	if f := first.Expect(t, "pusher_internal:member_added"); f.DataString(t) != "u3" {
		t.Fatalf("member_added of %q, want u3", f.DataString(t))
	}
	if f := joining.Expect(t, "pusher_internal:member_added"); f.DataString(t) != "u3" {
		t.Fatalf("member_added of %q, want u3", f.DataString(t))
	}
	joining.Empty(t) // its own member_added excluded it
	leaving.Empty(t)

	res, err := system.Root.RequestFuture(fan, &messages.NodeStateRequest{AppId: "app", Channel: "presence-room"}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	known := res.(*messages.NodeState).KnownMembers
	slices.Sort(known)
	if !slices.Equal(known, []string{"u1", "u2", "u3"}) {
		t.Fatalf("the mirror knows %v, want u1, u2 and u3", known)
	}
}
