package connection

import (
	"strconv"

	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// subscribe checks a pusher:subscribe (rate, name, auth, presence data) and sends the join to
// the channel's fan-out actor on this node. The subscription is pending until the grain's
// answer comes back as messages.Subscribed or messages.SubscribeRefused.
func (c *Connection) subscribe(ctx actor.Context, m *messages.ClientSubscribe) {
	if userID, ok := protocol.ParseServerToUserChannel(m.Channel); ok {
		// pusher-js subscribes to its user's channel after sign-in. Events for it reach the
		// socket through the user grain, so there is nothing to join: only check it is ours.
		if c.userID == "" || userID != c.userID {
			c.refuseSubscription(m.Channel, protocol.SubscriptionErrorAuth, "sign in as this user first", protocol.SubscriptionStatusForbidden)
			return
		}
		c.sink.Send(protocol.SubscriptionSucceededFrame(m.Channel))
		return
	}
	if !c.allow(&c.subscribes, c.app.Settings().Limits.MaxSubscribesPerSecond) {
		c.refuseSubscription(m.Channel, protocol.SubscriptionErrorLimitReached,
			"over the app's limit of subscribes per second per connection; retry later", protocol.SubscriptionStatusTooFast)
		return
	}
	limits := c.app.Settings().Limits
	ch, err := protocol.ParseChannel(m.Channel, limits.MaxChannelNameLength)
	if err != nil {
		c.refuseSubscription(m.Channel, protocol.SubscriptionErrorInvalid, err.Error(), protocol.SubscriptionStatusInvalid)
		return
	}
	if _, ok := c.subscriptions.get(ch.Name); ok {
		return // already subscribed or subscribing: pusher-js never does this, ignore it
	}
	if limit := limits.MaxChannelsPerConnection; limit > 0 && c.subscriptions.len() >= limit {
		c.refuseSubscription(ch.Name, protocol.SubscriptionErrorLimitReached,
			"over the app's limit of "+strconv.Itoa(limit)+" channels per connection; unsubscribe from one first", protocol.SubscriptionStatusForbidden)
		return
	}
	var presence protocol.PresenceChannelData
	if ch.Kind.NeedsAuth() {
		channelData := ""
		if ch.Kind == protocol.Presence {
			channelData = m.ChannelData
		}
		settings := c.app.Settings()
		if !protocol.VerifyChannelAuth(settings.Key, settings.Secret, c.socketID, ch.Name, channelData, m.Auth) {
			c.refuseSubscription(ch.Name, protocol.SubscriptionErrorAuth,
				"invalid signature: expected HMAC-SHA256 of socket_id:channel"+presenceHint(ch.Kind)+" with the app secret", protocol.SubscriptionStatusAuth)
			return
		}
	}
	if ch.Kind == protocol.Presence {
		if presence, err = protocol.ParsePresenceChannelData(m.ChannelData); err != nil {
			c.refuseSubscription(ch.Name, protocol.SubscriptionErrorInvalid, err.Error(), protocol.SubscriptionStatusInvalid)
			return
		}
		if len(presence.UserInfo) > limits.MaxPresenceMemberSize {
			c.refuseSubscription(ch.Name, protocol.SubscriptionErrorLimitReached, "user_info is larger than the app's limit", protocol.SubscriptionStatusTooLarge)
			return
		}
	}
	traced, span := c.n.Tel.StartSubscribeSpan(context.Background(), c.app.ID, ch.Name, c.socketID)
	defer telemetry.EndSpan(span, nil)
	s := &subscription{channel: ch, join: &messages.Join{
		SocketID: c.socketID, Sink: c.sink, Conn: ctx.Self(),
		UserID: presence.UserID, UserInfo: presence.UserInfo, Trace: telemetry.Inject(traced),
	}}
	c.subscriptions.add(s)
	c.sendJoin(ctx, s)
}

func presenceHint(k protocol.ChannelKind) string {
	if k == protocol.Presence {
		return ":channel_data"
	}
	return ""
}

func (c *Connection) sendJoin(ctx actor.Context, s *subscription) {
	s.fanout = c.n.Fanouts.Request(ctx, node.Key(c.app.ID, s.channel.Name), s.join)
}
