package actors

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/protocol"
)

// grainIdleTimeout is how long an empty channel grain lives before it stops.
const grainIdleTimeout = 5 * time.Second

// channelGrain is the one authority for a channel: its subscribers per node, its presence
// roster, and the encoding of every event published to it.
type channelGrain struct {
	engine  *Engine
	app     *App
	channel protocol.Channel
	locator grainLocator

	nodes       map[string]*nodeSubscribers // node key -> that node's fan-out actor and count
	subscribers map[string]subscriber       // socket id -> where it is
	roster      *roster                     // presence channels only
	cached      *cachedEvent                // cache channels: the last event, if not expired

	countTimerSet bool  // a subscription_count update is scheduled
	countSent     int64 // the count last sent, -1 before the first
}

// cachedEvent is a cache channel's last event, as the frame a new subscriber receives.
type cachedEvent struct {
	frame   []byte
	expires time.Time
}

// subscriptionCountTick asks the grain to send subscription_count if it changed.
type subscriptionCountTick struct{}

type nodeSubscribers struct {
	pid   *actor.PID
	count int
}

type subscriber struct {
	node   string
	userID string
}

func newChannelGrain(e *Engine, app *App, channel protocol.Channel, locator grainLocator) *channelGrain {
	g := &channelGrain{
		engine: e, app: app, channel: channel, locator: locator,
		nodes:       map[string]*nodeSubscribers{},
		subscribers: map[string]subscriber{},
		countSent:   -1,
	}
	if channel.Kind == protocol.Presence {
		g.roster = newRoster()
	}
	return g
}

func pidKey(pid *actor.PID) string { return pid.Address + "/" + pid.Id }

func (g *channelGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.SetReceiveTimeout(grainIdleTimeout)
	case *messages.Publish:
		g.publish(ctx, m)
	case *messages.Subscribe:
		g.subscribe(ctx, m)
	case *messages.Unsubscribe:
		g.unsubscribe(ctx, m)
	case *messages.ChannelInfoRequest:
		ctx.Respond(g.info(m.WithUsers))
	case subscriptionCountTick:
		g.sendSubscriptionCount(ctx)
	case *actor.ReceiveTimeout:
		if len(g.subscribers) == 0 && g.cachedFrame() == nil {
			g.locator.release(g.app.ID, g.channel.Name, ctx.Self())
			ctx.Stop(ctx.Self())
		}
	}
}

func (g *channelGrain) publish(ctx actor.Context, m *messages.Publish) {
	if len(g.nodes) == 0 && !g.channel.Cache {
		return
	}
	var frame []byte
	if m.DataIsJson {
		frame = protocol.AppendEventRawData(nil, m.Event, g.channel.Name, m.Data, m.UserId)
	} else {
		frame = protocol.AppendEvent(nil, m.Event, g.channel.Name, string(m.Data), m.UserId)
	}
	if g.channel.Cache {
		g.cached = &cachedEvent{frame: frame, expires: time.Now().Add(g.app.CacheTTL)}
	}
	g.deliver(ctx, &messages.Deliver{
		Frame:            frame,
		ExcludeSocketId:  m.ExcludeSocketId,
		AcceptedUnixNano: m.AcceptedUnixNano,
		Trace:            m.Trace,
	})
}

// deliver sends one message to every node with subscribers; the message is shared, not copied.
func (g *channelGrain) deliver(ctx actor.Context, d *messages.Deliver) {
	for _, n := range g.nodes {
		ctx.Send(n.pid, d)
	}
}

func (g *channelGrain) subscribe(ctx actor.Context, m *messages.Subscribe) {
	if _, dup := g.subscribers[m.SocketId]; dup {
		ctx.Respond(&messages.SubscribeResult{SocketId: m.SocketId, Ok: true, Frame: g.succeededFrame()})
		return
	}
	if g.roster != nil && !g.roster.has(m.UserId) {
		if limit := g.app.Limits.MaxPresenceMembers; limit > 0 && g.roster.count() >= limit {
			ctx.Respond(&messages.SubscribeResult{
				SocketId: m.SocketId, ErrorType: protocol.SubscriptionErrorLimitReached,
				Error: "presence channel is full", Status: 403,
			})
			return
		}
	}
	node := pidKey(m.Node)
	n := g.nodes[node]
	if n == nil {
		n = &nodeSubscribers{pid: m.Node}
		g.nodes[node] = n
	}
	n.count++
	g.subscribers[m.SocketId] = subscriber{node: node, userID: m.UserId}
	ctx.CancelReceiveTimeout()

	newMember := g.roster != nil && g.roster.add(m.UserId, m.UserInfo, node)
	res := &messages.SubscribeResult{SocketId: m.SocketId, Ok: true, Frame: g.succeededFrame()}
	if g.channel.Cache {
		res.CachedFrame = g.cachedFrame()
		res.CacheMiss = res.CachedFrame == nil
	}
	ctx.Respond(res)
	g.subscriptionCountChanged(ctx)
	if newMember {
		frame := protocol.AppendEvent(nil, protocol.EventMemberAdded, g.channel.Name, memberJSON(m.UserId, m.UserInfo), "")
		g.deliver(ctx, &messages.Deliver{Frame: frame, ExcludeSocketId: m.SocketId, Trace: m.Trace})
	}
}

func (g *channelGrain) unsubscribe(ctx actor.Context, m *messages.Unsubscribe) {
	s, ok := g.subscribers[m.SocketId]
	if !ok {
		return
	}
	delete(g.subscribers, m.SocketId)
	if n := g.nodes[s.node]; n != nil {
		if n.count--; n.count <= 0 {
			delete(g.nodes, s.node)
		}
	}
	if g.roster != nil && g.roster.remove(s.userID, s.node) {
		frame := protocol.AppendEvent(nil, protocol.EventMemberRemoved, g.channel.Name, removedJSON(s.userID), "")
		g.deliver(ctx, &messages.Deliver{Frame: frame})
	}
	g.subscriptionCountChanged(ctx)
	if len(g.subscribers) == 0 {
		ctx.SetReceiveTimeout(grainIdleTimeout)
	}
}

func (g *channelGrain) cachedFrame() []byte {
	if g.cached == nil {
		return nil
	}
	if time.Now().After(g.cached.expires) {
		g.cached = nil
		return nil
	}
	return g.cached.frame
}

// subscriptionCountChanged schedules one pusher_internal:subscription_count for the changes
// of the next interval, so a burst of joins sends one update, not one per join.
func (g *channelGrain) subscriptionCountChanged(ctx actor.Context) {
	if !g.app.SubscriptionCount || g.countTimerSet || g.channel.Kind == protocol.Presence {
		return
	}
	g.countTimerSet = true
	self, root := ctx.Self(), g.engine.system.Root
	time.AfterFunc(g.engine.subscriptionCountInterval, func() { root.Send(self, subscriptionCountTick{}) })
}

func (g *channelGrain) sendSubscriptionCount(ctx actor.Context) {
	g.countTimerSet = false
	n := int64(len(g.subscribers))
	if n == g.countSent {
		return
	}
	g.countSent = n
	data := `{"subscription_count":` + strconv.FormatInt(n, 10) + `}`
	g.deliver(ctx, &messages.Deliver{Frame: protocol.AppendEvent(nil, protocol.EventSubscriptionCount, g.channel.Name, data, "")})
}

func (g *channelGrain) succeededFrame() []byte {
	if g.roster != nil {
		return g.roster.succeededFrame(g.channel.Name)
	}
	return protocol.AppendEvent(nil, protocol.EventSubscriptionSucceeded, g.channel.Name, "{}", "")
}

func (g *channelGrain) info(withUsers bool) *messages.ChannelInfo {
	info := &messages.ChannelInfo{
		Occupied:          len(g.subscribers) > 0,
		SubscriptionCount: int64(len(g.subscribers)),
	}
	if g.roster != nil {
		info.UserCount = int64(g.roster.count())
		if withUsers {
			info.UserIds = g.roster.userIDs()
		}
	}
	return info
}

func removedJSON(userID string) string {
	return string(append(protocol.AppendJSONString([]byte(`{"user_id":`), userID), '}'))
}

func (g *channelGrain) logger() *slog.Logger {
	return g.engine.log.With("app", g.app.ID, "channel", g.channel.Name)
}
