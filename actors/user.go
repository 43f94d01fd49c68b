package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/protocol"
)

// userGrain is the one authority for a signed-in user of an app: which sockets are signed in
// as the user (for #server-to-user-{id} events and terminate_connections) and which sockets
// watch the user (watchlists). Like the channel grain it is found through a locator, so it
// can become a cluster grain.
type userGrain struct {
	engine  *Engine
	appID   string
	userID  string
	release func(pid *actor.PID)

	sockets  map[string]*actor.PID // socket id -> connection actor
	watchers map[string]*actor.PID // pid key -> watching connection actor
}

func (u *userGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.SetReceiveTimeout(grainIdleTimeout)
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
			u.release(ctx.Self())
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
