package connection

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// clientEvent relays a client- event to the channel's grain after the protocol's checks: the
// app allows client events, the channel is private or presence, the grain confirmed this
// socket's subscription, the event is within the app's limits and valid, and the rate allows it.
func (c *Connection) clientEvent(ctx actor.Context, m *messages.ClientEvent) {
	settings := c.app.Settings()
	if !settings.ClientEvents {
		c.refuseClientEvent(0, "To send client events, you must enable this feature in the app's settings")
		return
	}
	ch, err := protocol.ParseChannel(m.Channel, settings.Limits.MaxChannelNameLength)
	if err != nil || !ch.Kind.AllowsClientEvents() {
		c.refuseClientEvent(0, "Client event rejected: client events are only supported on private and presence channels")
		return
	}
	s, subscribed := c.subscriptions[ch.Name]
	if !subscribed || !s.confirmed {
		c.refuseClientEvent(0, "Client event rejected: the socket is not subscribed to "+ch.Name)
		return
	}
	if err := settings.Limits.ValidateEvent(m.Event, len(m.Data)); err != nil {
		c.refuseClientEvent(0, "Client event rejected: "+err.Error())
		return
	}
	data, err := protocol.ClientEventData(m.Data)
	if err != nil {
		c.refuseClientEvent(0, "Client event rejected: "+err.Error())
		return
	}
	if !c.allow(c.clientEvents) {
		c.refuseClientEvent(protocol.CodeClientEventRateLimited, "Client event rejected due to rate limit")
		return
	}
	traced, span := c.n.Tel.StartClientEventSpan(context.Background(), c.app.ID, ch.Name, m.Event, c.socketID)
	ctx.Send(c.n.Grains.ChannelPID(c.app.ID, ch.Name), &messages.Publish{
		AppId: c.app.ID, Channel: ch.Name, Event: m.Event, Data: data, DataIsJson: true,
		ExcludeSocketId: c.socketID, UserId: s.join.UserID, AcceptedUnixNano: c.n.Clock.Now().UnixNano(),
		Trace: telemetry.Inject(traced),
	})
	telemetry.EndSpan(span, nil)
}
