package actors

import (
	"context"
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// Messages from the transport to a connection actor, one per client frame it understood.
type (
	// ClientSubscribe is pusher:subscribe.
	ClientSubscribe struct{ Channel, Auth, ChannelData string }
	// ClientUnsubscribe is pusher:unsubscribe.
	ClientUnsubscribe struct{ Channel string }
	// ClientEvent is a client- event to the other subscribers of a channel.
	ClientEvent struct {
		Event, Channel string
		Data           json.RawMessage
	}
	// ClientSignin is pusher:signin.
	ClientSignin struct{ Auth, UserData string }
	// SocketClosed tells the connection actor its socket is gone; it cleans up and stops.
	SocketClosed struct{}
)

// signinDeadline fires when an app that requires sign-in has waited long enough.
type signinDeadline struct{}

// connection is the actor of one socket.
type connection struct {
	engine   *Engine
	app      *App
	socketID string
	sink     Sink

	subscriptions map[string]*subscription
	userID        string   // set by a successful pusher:signin
	watchlist     []string // the users this socket watches

	clientEventWindow time.Time // start of the current one-second rate window
	clientEventCount  int
	signinTimer       *time.Timer
}

type subscription struct {
	channel protocol.Channel
	fanout  *actor.PID
	userID  string // presence channels: the member this socket is
	join    *join
}

func (c *connection) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if c.app.UserAuthentication {
			self, root := ctx.Self(), c.engine.system.Root
			c.signinTimer = time.AfterFunc(c.app.UserAuthenticationTimeout, func() { root.Send(self, signinDeadline{}) })
		}
	case *ClientSubscribe:
		c.subscribe(ctx, m)
	case *ClientUnsubscribe:
		c.unsubscribe(ctx, m.Channel)
	case *ClientEvent:
		c.clientEvent(ctx, m)
	case *ClientSignin:
		c.signin(ctx, m)
	case *subscribeRejected:
		delete(c.subscriptions, m.channel)
	case *actor.DeadLetterResponse:
		// proto.actor's dead letter answer does not say which request died: resend every
		// join and registration; fan-out actors and user grains ignore ones they have.
		c.rejoinAll(ctx)
		if c.userID != "" {
			c.registerUser(ctx)
		}
	case *messages.SocketDeliver:
		c.sink.Send(m.Frame)
		c.app.Metrics.AddMessagesOut(telemetry.KindUserEvent, 1)
		c.app.Metrics.AddBytesOut(len(m.Frame))
	case *messages.WatchlistEvent:
		c.sink.Send(watchlistFrame(m.UserId, m.Online))
	case *messages.SocketTerminate:
		c.sink.Close(int(m.Code), m.Reason)
	case signinDeadline:
		if c.userID == "" {
			c.sink.Close(protocol.CodeUnauthorized, "sign-in required")
		}
	case *SocketClosed:
		c.closed(ctx)
	}
}

func (c *connection) subscribe(ctx actor.Context, m *ClientSubscribe) {
	if userID, ok := protocol.ParseServerToUserChannel(m.Channel); ok {
		// pusher-js subscribes to its user's channel after sign-in. Events for it reach the
		// socket through the user grain, so there is nothing to join: only check it is ours.
		if c.userID == "" || userID != c.userID {
			c.sink.Send(protocol.SubscriptionErrorFrame(m.Channel, protocol.SubscriptionErrorAuth, "sign in as this user first", 403))
			return
		}
		c.sink.Send(protocol.AppendEvent(nil, protocol.EventSubscriptionSucceeded, m.Channel, "{}", ""))
		return
	}
	ch, err := protocol.ParseChannel(m.Channel, c.app.Limits.MaxChannelNameLength)
	if err != nil {
		c.sink.Send(protocol.SubscriptionErrorFrame(m.Channel, protocol.SubscriptionErrorInvalid, err.Error(), 400))
		return
	}
	if _, ok := c.subscriptions[ch.Name]; ok {
		return // already subscribed or subscribing: pusher-js never does this, ignore it
	}
	var userID string
	var userInfo []byte
	if ch.Kind.NeedsAuth() {
		channelData := ""
		if ch.Kind == protocol.Presence {
			channelData = m.ChannelData
		}
		if !protocol.VerifyChannelAuth(c.app.Key, c.app.Secret, c.socketID, ch.Name, channelData, m.Auth) {
			c.sink.Send(protocol.SubscriptionErrorFrame(ch.Name, protocol.SubscriptionErrorAuth,
				"invalid signature: expected HMAC-SHA256 of socket_id:channel"+presenceHint(ch.Kind)+" with the app secret", 401))
			return
		}
	}
	if ch.Kind == protocol.Presence {
		data, err := protocol.ParsePresenceChannelData(m.ChannelData)
		if err != nil {
			c.sink.Send(protocol.SubscriptionErrorFrame(ch.Name, protocol.SubscriptionErrorInvalid, err.Error(), 400))
			return
		}
		if limit := c.app.Limits.MaxPresenceMemberSize; limit > 0 && len(data.UserInfo) > limit {
			c.sink.Send(protocol.SubscriptionErrorFrame(ch.Name, protocol.SubscriptionErrorLimitReached,
				"user_info is larger than the app's limit", 413))
			return
		}
		userID, userInfo = data.UserID, data.UserInfo
	}
	traced, span := c.engine.tel.StartSubscribeSpan(context.Background(), c.app.ID, ch.Name, c.socketID)
	defer telemetry.EndSpan(span, nil)
	s := &subscription{channel: ch, userID: userID}
	s.join = &join{socketID: c.socketID, sink: c.sink, conn: ctx.Self(), userID: userID, userInfo: userInfo, trace: telemetry.Inject(traced)}
	c.subscriptions[ch.Name] = s
	c.sendJoin(ctx, s)
}

func presenceHint(k protocol.ChannelKind) string {
	if k == protocol.Presence {
		return ":channel_data"
	}
	return ""
}

func (c *connection) sendJoin(ctx actor.Context, s *subscription) {
	s.fanout = c.engine.fanouts.request(ctx, channelKey(c.app.ID, s.channel.Name), s.join)
}

// rejoinAll resends the joins of every subscription, for one that reached a fan-out actor as
// it stopped.
func (c *connection) rejoinAll(ctx actor.Context) {
	for _, s := range c.subscriptions {
		c.sendJoin(ctx, s)
	}
}

func (c *connection) unsubscribe(ctx actor.Context, channel string) {
	s, ok := c.subscriptions[channel]
	if !ok {
		return
	}
	delete(c.subscriptions, channel)
	ctx.Send(s.fanout, &leave{socketID: c.socketID})
}

func (c *connection) clientEvent(ctx actor.Context, m *ClientEvent) {
	if !c.app.ClientEvents {
		c.sink.Send(protocol.ErrorFrame(0, "To send client events, you must enable this feature in the app's settings"))
		return
	}
	ch, err := protocol.ParseChannel(m.Channel, c.app.Limits.MaxChannelNameLength)
	if err != nil || !ch.Kind.AllowsClientEvents() {
		c.sink.Send(protocol.ErrorFrame(0, "Client event rejected: client events are only supported on private and presence channels"))
		return
	}
	s, subscribed := c.subscriptions[ch.Name]
	if !subscribed {
		c.sink.Send(protocol.ErrorFrame(0, "Client event rejected: the socket is not subscribed to "+ch.Name))
		return
	}
	if !protocol.ValidEventName(m.Event, c.app.Limits.MaxEventNameLength) {
		c.sink.Send(protocol.ErrorFrame(0, "Client event rejected: event name too long"))
		return
	}
	if limit := c.app.Limits.MaxEventDataSize; limit > 0 && len(m.Data) > limit {
		c.sink.Send(protocol.ErrorFrame(0, "Client event rejected: data is larger than the app's limit"))
		return
	}
	if !c.allowClientEvent(time.Now()) {
		c.sink.Send(protocol.ErrorFrame(protocol.CodeClientEventRateLimited, "Client event rejected due to rate limit"))
		return
	}
	data := m.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	traced, span := c.engine.tel.StartClientEventSpan(context.Background(), c.app.ID, s.channel.Name, m.Event, c.socketID)
	ctx.Send(c.engine.grains.channelPID(c.app.ID, s.channel.Name), &messages.Publish{
		AppId: c.app.ID, Channel: s.channel.Name, Event: m.Event, Data: data, DataIsJson: true,
		ExcludeSocketId: c.socketID, UserId: s.userID, AcceptedUnixNano: time.Now().UnixNano(),
		Trace: telemetry.Inject(traced),
	})
	telemetry.EndSpan(span, nil)
}

// allowClientEvent applies the per-connection limit in one-second windows.
func (c *connection) allowClientEvent(now time.Time) bool {
	limit := c.app.Limits.MaxClientEventsPerSecond
	if limit <= 0 {
		return true
	}
	if now.Sub(c.clientEventWindow) >= time.Second {
		c.clientEventWindow, c.clientEventCount = now, 0
	}
	c.clientEventCount++
	return c.clientEventCount <= limit
}

// maxWatchlist is Pusher's limit on a user's watchlist.
const maxWatchlist = 100

func (c *connection) signin(ctx actor.Context, m *ClientSignin) {
	_, span := c.engine.tel.StartSigninSpan(context.Background(), c.app.ID, c.socketID)
	defer telemetry.EndSpan(span, nil)
	if c.userID != "" {
		c.sink.Send(protocol.ErrorFrame(0, "Already signed in as "+c.userID))
		return
	}
	if !protocol.VerifyUserAuth(c.app.Key, c.app.Secret, c.socketID, m.UserData, m.Auth) {
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
	data := `{"user_data":` + string(protocol.AppendJSONString(nil, m.UserData)) + `}`
	c.sink.Send(protocol.AppendEvent(nil, protocol.EventSigninSuccess, "", data, ""))
}

// registerUser tells the user grains about this socket: its own user's grain, and the grains
// of the users it watches. Both registrations are idempotent: after a dead letter (a grain
// that was stopping as we sent) all are sent again, to the grains now in charge.
func (c *connection) registerUser(ctx actor.Context) {
	ctx.Request(c.engine.userPID(c.app.ID, c.userID),
		&messages.UserSocketJoined{AppId: c.app.ID, UserId: c.userID, SocketId: c.socketID, Connection: ctx.Self()})
	for _, id := range c.watchlist {
		ctx.Request(c.engine.userPID(c.app.ID, id), &messages.Watch{AppId: c.app.ID, UserId: id, Watcher: ctx.Self()})
	}
}

func (c *connection) closed(ctx actor.Context) {
	c.app.connections.Add(-1) // first: whatever the leaves below cause happens after it
	for name, s := range c.subscriptions {
		ctx.Send(s.fanout, &leave{socketID: c.socketID})
		delete(c.subscriptions, name)
	}
	if c.signinTimer != nil {
		c.signinTimer.Stop()
	}
	if c.userID != "" {
		ctx.Send(c.engine.userPID(c.app.ID, c.userID), &messages.UserSocketLeft{AppId: c.app.ID, UserId: c.userID, SocketId: c.socketID})
		for _, id := range c.watchlist {
			ctx.Send(c.engine.userPID(c.app.ID, id), &messages.Unwatch{AppId: c.app.ID, UserId: id, Watcher: ctx.Self()})
		}
	}
	ctx.Stop(ctx.Self())
}
