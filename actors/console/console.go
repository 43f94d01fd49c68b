// Package console is the debug console's room in the actors: one console actor per node, named
// (ActorName) so that every member can reach it. It plays two parts:
//
//   - for the apps that a console anywhere in the cluster watches, it takes the events this
//     node's tap (node.Tap) recorded and sends them, in batches, to the console actor of every
//     watching node: one batch in flight per app (the next goes when the watchers have
//     acknowledged it), so a slow watcher makes the tap drop and count events, never queue them;
//   - for the consoles open on this node (Viewer), it tells every member to start recording
//     (messages.ConsoleWatch, again to members that join) and hands the batches that arrive to
//     each viewer's bounded queue, counting what a viewer that falls behind does not get.
//
// Nothing is recorded anywhere while no console is open: the tap is switched on per app by the
// first ConsoleWatch and off by the last ConsoleUnwatch (or when the watching member leaves).
package console

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
)

// ActorName is the name of every node's console actor.
const ActorName = "herald-console"

// ActorAt is the console actor of the member at address.
func ActorAt(address string) *actor.PID { return actor.NewPID(address, ActorName) }

const (
	// batchMax is the most events one ConsoleRecords carries.
	batchMax = 256
	// viewerQueue is how many batches a viewer may leave unread before it loses the next ones.
	viewerQueue = 64
	// ackTimeout bounds the wait for a watcher's ConsoleAck. It waits for the actor system, not
	// for a protocol timer, so it runs on proto.actor's (real) clock as the Engine's requests do.
	ackTimeout = 5 * time.Second
)

// Batch is some events of one app from one node, oldest first.
type Batch struct {
	Node   string
	Events []node.Event
	// Dropped is the events the node could not keep for the consoles since its previous batch.
	Dropped int64
}

// Viewer is one console open on this node, on one app: the batches of every member's events.
type Viewer struct {
	AppID string
	ch    chan Batch
	lost  atomic.Int64
	root  *actor.RootContext
	pid   *actor.PID
	once  sync.Once
}

// Batches delivers the app's events; it is closed after Close.
func (v *Viewer) Batches() <-chan Batch { return v.ch }

// TakeLost returns the events this viewer did not get since the previous call because it read
// its batches too slowly.
func (v *Viewer) TakeLost() int64 { return v.lost.Swap(0) }

// Close ends the viewer; the members stop recording when it was the cluster's last on the app.
func (v *Viewer) Close() {
	v.once.Do(func() { v.root.Send(v.pid, closeViewer{v}) })
}

// Open starts a viewer of appID on the node whose console actor is pid.
func Open(root *actor.RootContext, pid *actor.PID, appID string) *Viewer {
	v := &Viewer{AppID: appID, ch: make(chan Batch, viewerQueue), root: root, pid: pid}
	root.Send(pid, openViewer{v})
	return v
}

// Messages from this node to its console actor.
type (
	openViewer  struct{ v *Viewer }
	closeViewer struct{ v *Viewer }
	wake        struct{ appID string } // the tap has events of the app
)

type consoleActor struct {
	n        *node.Node
	watchers map[string]map[string]*actor.PID // app -> watching console actors by node.PIDKey
	inflight map[string]int                   // app -> batches sent and not yet acknowledged
	viewers  map[string]map[*Viewer]struct{}  // app -> consoles open on this node
	host     string                           // this host's name, once needed
}

// Spawn starts the node's console actor and attaches the node's tap to it. Start it before the
// node joins a cluster, as the node actor.
func Spawn(n *node.Node) (*actor.PID, error) {
	a := &consoleActor{n: n, watchers: map[string]map[string]*actor.PID{}, inflight: map[string]int{},
		viewers: map[string]map[*Viewer]struct{}{}}
	pid, err := n.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return a }), ActorName)
	if err != nil {
		return nil, err
	}
	root := n.Root
	n.Tap.Attach(n.Clock, func(appID string) { root.Send(pid, wake{appID}) })
	return pid, nil
}

func (a *consoleActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case openViewer:
		vs := a.viewers[m.v.AppID]
		if vs == nil {
			vs = map[*Viewer]struct{}{}
			a.viewers[m.v.AppID] = vs
		}
		vs[m.v] = struct{}{}
		if len(vs) == 1 {
			a.tell(ctx, a.n.Members(), &messages.ConsoleWatch{AppId: m.v.AppID, Watcher: self(ctx)})
		}
	case closeViewer:
		vs := a.viewers[m.v.AppID]
		if _, ok := vs[m.v]; !ok {
			return
		}
		delete(vs, m.v)
		close(m.v.ch)
		if len(vs) == 0 {
			delete(a.viewers, m.v.AppID)
			a.tell(ctx, a.n.Members(), &messages.ConsoleUnwatch{AppId: m.v.AppID, Watcher: self(ctx)})
		}
	case *messages.ConsoleWatch:
		ws := a.watchers[m.AppId]
		if ws == nil {
			ws = map[string]*actor.PID{}
			a.watchers[m.AppId] = ws
		}
		ws[node.PIDKey(m.Watcher)] = m.Watcher
		a.n.Tap.SetWatched(m.AppId, true)
	case *messages.ConsoleUnwatch:
		a.unwatch(m.AppId, node.PIDKey(m.Watcher))
	case wake:
		a.flush(ctx, m.appID)
	case *messages.ConsoleRecords:
		a.show(m)
		ctx.Respond(&messages.ConsoleAck{})
	case *cluster.ClusterTopology:
		a.topology(ctx, m)
	}
}

// self is this node's console actor as other members reach it: spawned before the node joined
// the cluster, its own PID has the address of a lone actor system.
func self(ctx actor.Context) *actor.PID { return ActorAt(ctx.ActorSystem().Address()) }

// tell sends msg to the console actor of every member at addresses.
func (a *consoleActor) tell(ctx actor.Context, addresses []string, msg any) {
	for _, addr := range addresses {
		ctx.Send(ActorAt(addr), msg)
	}
}

func (a *consoleActor) unwatch(appID, key string) {
	ws := a.watchers[appID]
	delete(ws, key)
	if len(ws) == 0 {
		delete(a.watchers, appID)
		a.n.Tap.SetWatched(appID, false)
	}
}

// flush sends the app's recorded events to its watchers, unless a batch is still on its way.
func (a *consoleActor) flush(ctx actor.Context, appID string) {
	if a.inflight[appID] > 0 {
		return // the last acknowledgement flushes again
	}
	ws := a.watchers[appID]
	events, dropped := a.n.Tap.Take(appID, batchMax)
	if len(ws) == 0 || (len(events) == 0 && dropped == 0) {
		return
	}
	msg := &messages.ConsoleRecords{AppId: appID, Node: a.name(), Events: toProto(events), Dropped: dropped}
	for key, w := range ws {
		a.inflight[appID]++
		ctx.ReenterAfter(ctx.RequestFuture(w, msg, ackTimeout), func(res any, err error) {
			if _, dead := res.(*actor.DeadLetterResponse); dead || errors.Is(err, actor.ErrDeadLetter) {
				a.unwatch(appID, key) // that node's console actor is gone
			}
			if a.inflight[appID]--; a.inflight[appID] <= 0 {
				delete(a.inflight, appID)
				a.flush(ctx, appID)
			}
		})
	}
}

// show hands a batch to every viewer of its app on this node; a viewer whose queue is full
// loses it, counted.
func (a *consoleActor) show(m *messages.ConsoleRecords) {
	vs := a.viewers[m.AppId]
	if len(vs) == 0 {
		return
	}
	b := Batch{Node: m.Node, Events: fromProto(m.Events), Dropped: m.Dropped}
	for v := range vs {
		select {
		case v.ch <- b:
		default:
			v.lost.Add(int64(len(b.Events)) + b.Dropped)
		}
	}
}

// topology tells members that joined what this node watches, and forgets the watchers of
// members that left.
func (a *consoleActor) topology(ctx actor.Context, m *cluster.ClusterTopology) {
	var joined []string
	for _, mem := range m.Joined {
		joined = append(joined, mem.Address())
	}
	for appID := range a.viewers {
		a.tell(ctx, joined, &messages.ConsoleWatch{AppId: appID, Watcher: self(ctx)})
	}
	for _, mem := range m.Left {
		for appID, ws := range a.watchers {
			for key, w := range ws {
				if w.Address == mem.Address() {
					a.unwatch(appID, key)
				}
			}
		}
	}
}

// name is how the console names this node (NodeName), looked up once.
func (a *consoleActor) name() string {
	if a.n.Name != loneAddress && a.n.Name != "" {
		return a.n.Name
	}
	if a.host == "" {
		a.host = NodeName(a.n)
	}
	return a.host
}

// NodeName is how the console names a node: its name, or for a node outside a cluster with no
// telemetry.node_name (whose name is then its actor system's placeholder address) its host name.
func NodeName(n *node.Node) string {
	if n.Name != loneAddress && n.Name != "" {
		return n.Name
	}
	if host, err := os.Hostname(); err == nil {
		return host
	}
	return n.Name
}

// loneAddress is proto.actor's address of an actor system that is not in a cluster.
const loneAddress = "nonhost"

func toProto(events []node.Event) []*messages.ConsoleEvent {
	out := make([]*messages.ConsoleEvent, len(events))
	for i, e := range events {
		out[i] = &messages.ConsoleEvent{
			Kind: e.Kind, AtMillis: e.AtMillis, SocketId: e.SocketID, Channel: e.Channel, Event: e.Event,
			Data: e.Data, Size: int64(e.Size), UserId: e.UserID, Origin: e.Origin, Code: int32(e.Code),
			Message: e.Message, TraceId: e.TraceID, Target: e.Target, Status: int32(e.Status),
			Attempt: int32(e.Attempt), Count: int64(e.Count),
		}
	}
	return out
}

func fromProto(events []*messages.ConsoleEvent) []node.Event {
	out := make([]node.Event, len(events))
	for i, e := range events {
		out[i] = node.Event{
			Kind: e.Kind, AtMillis: e.AtMillis, SocketID: e.SocketId, Channel: e.Channel, Event: e.Event,
			Data: e.Data, Size: int(e.Size), UserID: e.UserId, Origin: e.Origin, Code: int(e.Code),
			Message: e.Message, TraceID: e.TraceId, Target: e.Target, Status: int(e.Status),
			Attempt: int(e.Attempt), Count: int(e.Count),
		}
	}
	return out
}
