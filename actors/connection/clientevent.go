package connection

import (
	"context"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// Client events reach the channel's grain as HTTP publishes do: each is a request with a
// publish id, answered by PublishAck, and sent again (to the grain found anew) after a dead
// letter or when no answer came within an attempt; the grain takes each id once and each node
// writes it once. Nothing waits for the answer: the event goes out at once, the connection keeps
// it in a small table until the grain answers, and one timer per connection, armed only while
// the table is not empty, checks for silent attempts. The waits are on the real clock: they wait
// for the cluster, not for a protocol timer.
const (
	eventAttempt = time.Second
	// eventGiveUp ends the retries of an event: its grain has been unreachable this long.
	eventGiveUp = 10 * time.Second
	// eventRetryPause coalesces the dead letters of a move (one per event sent to the grain that
	// stopped) into one resend, when the grain in charge may be found.
	eventRetryPause  = 100 * time.Millisecond
	unackedEventsMax = 256 // events beyond it are sent once, untracked (the rate limit keeps it small)
)

// unackedEvent is a client event the grain has not confirmed yet.
type unackedEvent struct {
	msg         *messages.Publish
	first, sent time.Time
}

// resendSoon is the connection's pause after a dead letter before it sends its events again.
type resendSoon struct{}

// resendCheck is the connection's timer for client events whose attempt went unanswered.
type resendCheck struct{}

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
	s, subscribed := c.subscriptions.get(ch.Name)
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
	if !c.allow(&c.clientEvents, settings.Limits.MaxClientEventsPerSecond) {
		c.refuseClientEvent(protocol.CodeClientEventRateLimited, "Client event rejected due to rate limit")
		return
	}
	traced, span := c.n.Tel.StartClientEventSpan(context.Background(), c.app.ID, ch.Name, m.Event, c.socketID)
	c.eventSeq++
	p := &messages.Publish{
		AppId: c.app.ID, Channel: ch.Name, Event: m.Event, Data: data, DataIsJson: true,
		ExcludeSocketId: c.socketID, UserId: s.join.UserID, AcceptedUnixNano: c.n.Clock.Now().UnixNano(),
		Trace: telemetry.Inject(traced), PublishId: c.socketID + ":" + strconv.FormatUint(c.eventSeq, 10),
	}
	ctx.Request(c.n.Grains.ChannelPID(c.app.ID, ch.Name), p)
	if len(c.unacked) < unackedEventsMax {
		if c.unacked == nil {
			c.unacked = map[string]*unackedEvent{}
		}
		now := time.Now()
		c.unacked[p.PublishId] = &unackedEvent{msg: p, first: now, sent: now}
		c.armResend(ctx)
	}
	telemetry.EndSpan(span, nil)
}

// armResend starts the connection's resend timer unless it runs.
func (c *Connection) armResend(ctx actor.Context) {
	if c.resendArmed {
		return
	}
	c.resendArmed = true
	self, root := ctx.Self(), c.n.Root
	time.AfterFunc(eventAttempt, func() { root.Send(self, resendCheck{}) })
}

// resendAfterDeadLetter sends the unconfirmed events again after a short pause: a dead letter
// does not say which request it was, and a move sends back one per event.
func (c *Connection) resendAfterDeadLetter(ctx actor.Context) {
	if c.resendPaused || len(c.unacked) == 0 {
		return
	}
	c.resendPaused = true
	self, root := ctx.Self(), c.n.Root
	time.AfterFunc(eventRetryPause, func() { root.Send(self, resendSoon{}) })
}

// resendEvents sends again the client events not confirmed for an attempt (all of them after
// a dead letter), to their grains found anew, and gives up those unconfirmed for eventGiveUp.
func (c *Connection) resendEvents(ctx actor.Context, all bool) {
	now := time.Now()
	for id, u := range c.unacked {
		if now.Sub(u.first) >= eventGiveUp {
			delete(c.unacked, id)
			continue
		}
		if !all && now.Sub(u.sent) < eventAttempt {
			continue
		}
		u.sent = now
		c.n.Grains.Forget(node.ChannelKind, node.Key(c.app.ID, u.msg.Channel))
		ctx.Request(c.n.Grains.ChannelPID(c.app.ID, u.msg.Channel), u.msg)
	}
}
