// Package user is the user grain: the one authority for a signed-in user of an app. It knows
// which sockets are signed in as the user (for #server-to-user-{id} events and
// terminate_connections) and which sockets watch the user (watchlists). Like the channel grain
// it is found through the node's locator, as a local actor or a cluster grain.
package user

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
)

// idleTimeout is how long a grain with no sockets and no watchers lives before it stops.
const idleTimeout = 5 * time.Second

type idleCheck struct{}

// Grain is the actor of one user.
type Grain struct {
	n      *node.Node
	appID  string
	userID string

	sockets  map[string]*actor.PID // socket id -> connection actor
	watchers map[string]*actor.PID // node.PIDKey -> watching connection actor
	idle     clockwork.Timer
	refused  bool // a cluster activation on a member that does not own the user: see channel.Grain
}

// Props makes the grain of an app's user on a single node.
func Props(n *node.Node, appID, userID string) *actor.Props {
	return n.Props(func() actor.Actor { return newGrain(n, appID, userID) })
}

// ClusterProps makes cluster activations, which learn their user from cluster.ClusterInit.
func ClusterProps(n *node.Node) *actor.Props {
	return n.Props(func() actor.Actor { return newGrain(n, "", "") })
}

func newGrain(n *node.Node, appID, userID string) *Grain {
	return &Grain{n: n, appID: appID, userID: userID, sockets: map[string]*actor.PID{}, watchers: map[string]*actor.PID{}}
}

// Receive handles sign-ins and sign-outs, watches, events to the user and its life cycle.
func (u *Grain) Receive(ctx actor.Context) {
	if u.refused {
		if _, system := ctx.Message().(actor.SystemMessage); !system && ctx.Sender() != nil {
			ctx.Respond(&actor.DeadLetterResponse{Target: ctx.Self()})
		}
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
	case *cluster.ClusterInit:
		if !u.n.Owns(node.UserKind, m.Identity.Identity) {
			u.refused = true
			ctx.Stop(ctx.Self())
			return
		}
		u.appID, u.userID = node.SplitKey(m.Identity.Identity)
		u.n.LocalGrains.Add(node.UserKind, m.Identity.Identity, ctx.Self())
	case *actor.Stopped:
		u.n.LocalGrains.Remove(node.UserKind, node.Key(u.appID, u.userID), ctx.Self())
		if u.idle != nil {
			u.idle.Stop()
		}
		return
	case *messages.NodeLeft:
		// Soft state: sockets and watchers on a member that is gone are dropped. (A
		// re-activated user grain starts empty; the sockets register again on their next
		// dead letter, see connection.registerUser.)
		for id, conn := range u.sockets {
			if conn.Address == m.Address {
				delete(u.sockets, id)
				if len(u.sockets) == 0 {
					u.tellWatchers(ctx, false)
				}
			}
		}
		for k, w := range u.watchers {
			if w.Address == m.Address {
				delete(u.watchers, k)
			}
		}
	case *messages.UserSocketJoined:
		first := len(u.sockets) == 0
		u.sockets[m.SocketId] = m.Connection
		if first {
			u.tellWatchers(ctx, true)
		}
	case *messages.UserSocketLeft:
		if _, ok := u.sockets[m.SocketId]; ok {
			delete(u.sockets, m.SocketId)
			if len(u.sockets) == 0 {
				u.tellWatchers(ctx, false)
			}
		}
	case *messages.Watch:
		u.watchers[node.PIDKey(m.Watcher)] = m.Watcher
		if len(u.sockets) > 0 {
			ctx.Send(m.Watcher, &messages.WatchlistEvent{UserId: u.userID, Online: true})
		}
	case *messages.Unwatch:
		delete(u.watchers, node.PIDKey(m.Watcher))
	case *messages.UserPublish:
		if len(u.sockets) > 0 {
			d := &messages.SocketDeliver{
				Frame:            protocol.AppendEvent(nil, m.Event, protocol.ServerToUserPrefix+u.userID, m.Data, ""),
				AcceptedUnixNano: m.AcceptedUnixNano, Trace: m.Trace,
			}
			for _, conn := range u.sockets {
				ctx.Send(conn, d)
			}
		}
	case *messages.TerminateUser:
		t := &messages.SocketTerminate{Code: protocol.CodeUnauthorized, Reason: "connection terminated by the app"}
		for _, conn := range u.sockets {
			ctx.Send(conn, t)
		}
	case idleCheck:
		u.idle = nil
		if len(u.sockets) == 0 && len(u.watchers) == 0 {
			u.n.Grains.Release(node.UserKind, node.Key(u.appID, u.userID), ctx.Self())
			ctx.Stop(ctx.Self())
			return
		}
	}
	if len(u.sockets) == 0 && len(u.watchers) == 0 && u.idle == nil {
		u.idle = u.n.After(idleTimeout, ctx.Self(), idleCheck{})
	}
}

func (u *Grain) tellWatchers(ctx actor.Context, online bool) {
	ev := &messages.WatchlistEvent{UserId: u.userID, Online: online}
	for _, w := range u.watchers {
		ctx.Send(w, ev)
	}
}
