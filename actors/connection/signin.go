package connection

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// maxWatchlist is Pusher's limit on a user's watchlist.
const maxWatchlist = 100

// signin checks a pusher:signin and registers the socket with its user's grain and the grains
// of the users it watches.
func (c *Connection) signin(ctx actor.Context, m *messages.ClientSignin) {
	_, span := c.n.Tel.StartSigninSpan(context.Background(), c.app.ID, c.socketID)
	defer telemetry.EndSpan(span, nil)
	if c.userID != "" {
		c.refuseClientEvent(0, "Already signed in as "+c.userID)
		return
	}
	settings := c.app.Settings()
	if !protocol.VerifyUserAuth(settings.Key, settings.Secret, c.socketID, m.UserData, m.Auth) {
		c.n.Log.Debug("sign-in refused: invalid signature", "app", c.app.ID, "socket_id", c.socketID)
		c.sink.Send(protocol.ErrorFrame(protocol.CodeUnauthorized, "Invalid signature: expected HMAC-SHA256 of socket_id::user::user_data with the app secret"))
		return
	}
	user, err := protocol.ParseUserData(m.UserData)
	if err != nil {
		c.sink.Send(protocol.ErrorFrame(protocol.CodeUnauthorized, "Invalid user_data: "+err.Error()))
		return
	}
	if len(user.Watchlist) > maxWatchlist {
		c.sink.Send(protocol.ErrorFrame(protocol.CodeUnauthorized, "Invalid user_data: a watchlist has at most 100 user ids"))
		return
	}
	c.userID, c.watchlist = user.ID, user.Watchlist
	if c.signinTimer != nil {
		c.signinTimer.Stop()
	}
	// Registered first, so an event sent to the user after signin_success reaches this socket.
	c.registerUser(ctx)
	c.sink.Send(protocol.SigninSuccessFrame(m.UserData))
}

// registerUser tells the user grains about this socket: its own user's grain, and the grains
// of the users it watches. Both registrations are idempotent: after a dead letter (a grain
// that was stopping as we sent) all are sent again, to the grains now in charge.
func (c *Connection) registerUser(ctx actor.Context) {
	ctx.Request(c.n.Grains.UserPID(c.app.ID, c.userID),
		&messages.UserSocketJoined{AppId: c.app.ID, UserId: c.userID, SocketId: c.socketID, Connection: ctx.Self()})
	for _, id := range c.watchlist {
		ctx.Request(c.n.Grains.UserPID(c.app.ID, id), &messages.Watch{AppId: c.app.ID, UserId: id, Watcher: ctx.Self()})
	}
}
