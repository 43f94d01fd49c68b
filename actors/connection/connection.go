// Package connection is the connection actor: one per socket, always on the socket's node. It
// owns what the protocol gives one connection: its subscriptions (and which of them the grain
// has confirmed), its signed-in user and watchlist, its client-event and subscribe rates, and
// the sign-in deadline. The transport decodes frames and tells it typed messages
// (messages.ClientSubscribe, ...); it never waits on the network. It writes to the socket the
// errors and answers that concern the connection alone; channel frames come from the node's
// fan-out actors.
package connection

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// signinDeadline fires when an app that requires sign-in has waited long enough.
type signinDeadline struct{}

// Connection is the actor of one socket.
type Connection struct {
	n        *node.Node
	app      *node.App
	socketID string
	sink     node.Sink

	subscriptions subscriptionSet
	userID        string   // set by a successful pusher:signin
	watchlist     []string // the users this socket watches

	// Rates per connection (golang.org/x/time/rate, on the node's clock), made on first use:
	// most sockets never send a client event. nil is not used yet, or no limit.
	clientEvents, subscribes *rate.Limiter
	signinTimer              clockwork.Timer

	eventSeq     uint64                   // numbers the socket's client events (their publish ids)
	unacked      map[string]*unackedEvent // client events the grain has not confirmed
	resendArmed  bool
	resendPaused bool // a resend after a dead letter is scheduled
}

type subscription struct {
	channel   protocol.Channel
	fanout    *actor.PID
	join      *messages.Join
	confirmed bool // the grain counted the socket: client events are allowed
}

// Start spawns the connection actor of a socket that the node admitted. An app that requires
// sign-in gets its deadline armed here, before Start returns, so that it runs from the moment
// the socket was admitted.
func Start(n *node.Node, app *node.App, socketID string, sink node.Sink) *actor.PID {
	settings := app.Settings()
	c := &Connection{n: n, app: app, socketID: socketID, sink: sink}
	var self atomic.Pointer[actor.PID]
	if settings.UserAuthentication {
		c.signinTimer = n.Clock.AfterFunc(settings.UserAuthenticationTimeout, func() {
			if pid := self.Load(); pid != nil { // nil only for a deadline shorter than a spawn
				n.Root.Send(pid, signinDeadline{})
			}
		})
	}
	pid := n.SpawnInstance(c)
	self.Store(pid)
	return pid
}

// allow takes one from the limiter *l, which it makes on first use to allow perSecond a second
// in bursts of perSecond (the app's limit at that moment); 0 or less is no limit.
func (c *Connection) allow(l **rate.Limiter, perSecond int) bool {
	if *l == nil {
		if perSecond <= 0 {
			return true
		}
		*l = rate.NewLimiter(rate.Limit(perSecond), perSecond)
	}
	return (*l).AllowN(c.n.Clock.Now(), 1)
}

// Receive handles the socket's frames, the fan-outs' and user grains' answers, and its end.
func (c *Connection) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.ClientSubscribe:
		c.subscribe(ctx, m)
	case *messages.ClientUnsubscribe:
		if s, ok := c.subscriptions.remove(m.Channel); ok {
			ctx.Send(s.fanout, &messages.Leave{SocketID: c.socketID})
			c.record(node.Event{Kind: node.EventUnsubscribed, Channel: m.Channel})
		}
	case *messages.ClientEvent:
		c.clientEvent(ctx, m)
	case *messages.PublishAck:
		delete(c.unacked, m.PublishId)
	case resendSoon:
		c.resendPaused = false
		c.resendEvents(ctx, true)
	case resendCheck:
		c.resendArmed = false
		c.resendEvents(ctx, false)
		if len(c.unacked) > 0 {
			c.armResend(ctx)
		}
	case *messages.ClientSignin:
		c.signin(ctx, m)
	case *messages.Subscribed:
		if s, ok := c.subscriptions.get(m.Channel); ok {
			s.confirmed = true
			c.record(node.Event{Kind: node.EventSubscribed, Channel: m.Channel, UserID: s.join.UserID})
			c.n.Log.Debug("subscribed", "app", c.app.ID, "socket_id", c.socketID, "channel", m.Channel)
		}
	case *messages.SubscribeRefused:
		if _, ok := c.subscriptions.remove(m.Channel); ok {
			c.refuseSubscription(m.Channel, m.Type, m.Message, m.Status)
		}
	case *actor.DeadLetterResponse:
		// proto.actor's dead letter answer does not say which request died: resend every
		// join and registration; fan-out actors and user grains ignore ones they have. The user
		// grains are found again, not from the cache: the one cached stopped or refused.
		for s := range c.subscriptions.all() {
			c.sendJoin(ctx, s)
		}
		c.resendAfterDeadLetter(ctx)
		if c.userID != "" {
			c.n.Grains.Forget(node.UserKind, node.Key(c.app.ID, c.userID))
			for _, id := range c.watchlist {
				c.n.Grains.Forget(node.UserKind, node.Key(c.app.ID, id))
			}
			c.registerUser(ctx)
		}
	case *messages.SocketDeliver:
		c.sink.Send(m.Frame)
		c.app.Metrics.AddMessagesOut(telemetry.KindUserEvent, 1)
		c.app.Metrics.AddBytesOut(len(m.Frame))
	case *messages.WatchlistEvent:
		c.sink.Send(protocol.WatchlistFrame(m.UserId, m.Online))
	case *messages.SocketTerminate:
		c.sink.Close(int(m.Code), m.Reason)
	case signinDeadline:
		if c.userID == "" {
			c.sink.Close(protocol.CodeUnauthorized, "sign-in required")
		}
	case *messages.SocketClosed:
		c.closed(ctx)
	}
}

// refuseSubscription is the one writer of pusher:subscription_error.
func (c *Connection) refuseSubscription(channel, errType, message string, status int) {
	c.n.Log.Debug("subscription refused", "app", c.app.ID, "socket_id", c.socketID, "channel", channel,
		"type", errType, "status", status, "reason", message)
	c.sink.Send(protocol.SubscriptionErrorFrame(channel, errType, message, status))
	c.record(node.Event{Kind: node.EventError, Channel: channel, Event: protocol.EventSubscriptionError, Code: status, Message: errType + ": " + message})
}

// refuseClientEvent answers a client event that is not relayed.
func (c *Connection) refuseClientEvent(code int, message string) {
	c.sink.Send(protocol.ErrorFrame(code, message))
	c.record(node.Event{Kind: node.EventError, Event: protocol.EventError, Code: code, Message: message})
}

func (c *Connection) closed(ctx actor.Context) {
	c.app.AddConnections(-1) // first: whatever the leaves below cause happens after it
	for s := range c.subscriptions.all() {
		ctx.Send(s.fanout, &messages.Leave{SocketID: c.socketID})
	}
	c.subscriptions = subscriptionSet{}
	if c.signinTimer != nil {
		c.signinTimer.Stop()
	}
	if c.userID != "" {
		ctx.Send(c.n.Grains.UserPID(c.app.ID, c.userID), &messages.UserSocketLeft{AppId: c.app.ID, UserId: c.userID, SocketId: c.socketID})
		for _, id := range c.watchlist {
			ctx.Send(c.n.Grains.UserPID(c.app.ID, id), &messages.Unwatch{AppId: c.app.ID, UserId: id, Watcher: ctx.Self()})
		}
	}
	ctx.Stop(ctx.Self())
}
