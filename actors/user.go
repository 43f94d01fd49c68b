package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/protocol"
)

// userGrain is the one authority for a signed-in user of an app: which sockets are signed in
// as the user (for #server-to-user-{id} events and terminate_connections) and which sockets
// watch the user (watchlists). Like the channel grain it is found through a locator, so it
// can become a cluster grain.
type userGrain struct {
	engine *Engine
	appID  string
	userID string

	sockets  map[string]*actor.PID // socket id -> connection actor
	watchers map[string]*actor.PID // pid key -> watching connection actor
}

// newUserGrain makes a user grain; a cluster activation learns its identity from ClusterInit.
func newUserGrain(e *Engine, appID, userID string) *userGrain {
	return &userGrain{engine: e, appID: appID, userID: userID, sockets: map[string]*actor.PID{}, watchers: map[string]*actor.PID{}}
}

func (u *userGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.SetReceiveTimeout(grainIdleTimeout)
	case *cluster.ClusterInit:
		u.appID, u.userID = splitChannelKey(m.Identity.Identity)
		u.engine.localGrains.add(ctx.Self())
	case *actor.Stopped:
		u.engine.localGrains.remove(ctx.Self())
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
		if _, ok := u.sockets[m.SocketId]; !ok {
			return
		}
		delete(u.sockets, m.SocketId)
		if len(u.sockets) == 0 {
			u.tellWatchers(ctx, false)
		}
	case *messages.Watch:
		u.watchers[pidKey(m.Watcher)] = m.Watcher
		if len(u.sockets) > 0 {
			ctx.Send(m.Watcher, &messages.WatchlistEvent{UserId: u.userID, Online: true})
		}
	case *messages.Unwatch:
		delete(u.watchers, pidKey(m.Watcher))
	case *messages.UserPublish:
		if len(u.sockets) == 0 {
			return
		}
		d := &messages.SocketDeliver{
			Frame:            protocol.AppendEvent(nil, m.Event, protocol.ServerToUserPrefix+u.userID, m.Data, ""),
			AcceptedUnixNano: m.AcceptedUnixNano, Trace: m.Trace,
		}
		for _, conn := range u.sockets {
			ctx.Send(conn, d)
		}
	case *messages.TerminateUser:
		t := &messages.SocketTerminate{Code: protocol.CodeUnauthorized, Reason: "connection terminated by the app"}
		for _, conn := range u.sockets {
			ctx.Send(conn, t)
		}
	case *actor.ReceiveTimeout:
		if len(u.sockets) == 0 && len(u.watchers) == 0 {
			u.engine.grains.release(userKind, channelKey(u.appID, u.userID), ctx.Self())
			ctx.Stop(ctx.Self())
		}
	}
}

func (u *userGrain) tellWatchers(ctx actor.Context, online bool) {
	ev := &messages.WatchlistEvent{UserId: u.userID, Online: online}
	for _, w := range u.watchers {
		ctx.Send(w, ev)
	}
}

// watchlistFrame is pusher_internal:watchlist_events for one user going online or offline.
func watchlistFrame(userID string, online bool) []byte {
	name := "offline"
	if online {
		name = "online"
	}
	data := `{"events":[{"name":"` + name + `","user_ids":[` + string(protocol.AppendJSONString(nil, userID)) + `]}]}`
	return protocol.AppendEvent(nil, protocol.EventWatchlist, "", data, "")
}
