package actors

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// grainIdleTimeout is how long an empty channel grain lives before it stops.
const grainIdleTimeout = 5 * time.Second

// channelGrain is the one authority for a channel: its subscribers per node, its presence
// roster, its cached last event, and the encoding of every event published to it.
//
// In a cluster a grain can be re-activated on another member (its member died, or the
// topology moved it). Grain state is soft: a new activation asks every member for its local
// subscribers of the channel and holds the messages it receives until it has rebuilt.
type channelGrain struct {
	engine *Engine
	app    *App
	ch     protocol.Channel

	nodes       map[string]*nodeSubscribers // node key -> that node's fan-out actor and count
	subscribers map[string]subscriber       // socket id -> where it is
	roster      *roster                     // presence channels only
	cached      *cachedEvent                // cache channels: the last event, if not expired

	countTimerSet bool  // a subscription_count update is scheduled
	countSent     int64 // the count last sent, -1 before the first

	rebuild *rebuildState // non-nil while rebuilding after a re-activation

	// Webhooks: channel_vacated and member_removed wait webhookDelay and are dropped when the
	// channel or the member is back by then; the matching occupied/added is then not sent.
	occupiedAnnounced bool
	vacateGen         int            // generation of the pending vacate check, 0 when none
	removalGen        map[string]int // user id -> generation of its pending member_removed
	gen               int

	countedOccupied bool // this activation counts the channel in herald_occupied_channels
}

type nodeSubscribers struct {
	pid   *actor.PID
	count int
}

type subscriber struct {
	node   string
	userID string
}

// cachedEvent is a cache channel's last event, as the frame a new subscriber receives.
type cachedEvent struct {
	frame   []byte
	expires time.Time
}

// rebuildState collects the members' answers and the messages held meanwhile.
type rebuildState struct {
	waiting      int
	held         []heldMessage
	knownMembers map[string]bool // every member id some node's mirror has
}

type heldMessage struct {
	sender *actor.PID
	msg    any
}

type (
	subscriptionCountTick struct{} // send subscription_count if it changed
	rebuildDeadline       struct{} // stop waiting for members that do not answer
	vacateCheck           struct{ gen int }
	removalCheck          struct {
		userID string
		gen    int
	}
)

// newChannelGrain makes a grain. app is nil for a cluster activation, which learns its
// identity from cluster.ClusterInit.
func newChannelGrain(e *Engine, app *App, channel string) *channelGrain {
	g := &channelGrain{
		engine: e, nodes: map[string]*nodeSubscribers{}, subscribers: map[string]subscriber{}, countSent: -1,
		removalGen: map[string]int{},
	}
	if app != nil {
		g.init(app, channel)
	}
	return g
}

func (g *channelGrain) init(app *App, channel string) {
	g.app = app
	g.ch, _ = protocol.ParseChannel(channel, len(channel))
	if g.ch.Kind == protocol.Presence {
		g.roster = newRoster()
	}
}

func pidKey(pid *actor.PID) string { return pid.Address + "/" + pid.Id }

func (g *channelGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.SetReceiveTimeout(grainIdleTimeout)
		return
	case *cluster.ClusterInit:
		g.clusterInit(ctx, m)
		return
	case *actor.Stopped:
		g.engine.localGrains.remove(ctx.Self())
		if g.app != nil {
			g.measureGone()
		}
		return
	case *messages.NodeState:
		if g.rebuild != nil {
			g.merge(ctx, m)
		}
		return
	case *actor.DeadLetterResponse:
		if g.rebuild != nil {
			g.merge(ctx, &messages.NodeState{}) // a member without a node actor has no sockets
		}
		return
	case rebuildDeadline:
		if g.rebuild != nil {
			g.finishRebuild(ctx)
		}
		return
	}
	if g.app == nil {
		return // an activation for an app this node does not know: nothing to serve
	}
	if g.rebuild != nil {
		if _, system := ctx.Message().(actor.SystemMessage); !system {
			g.rebuild.held = append(g.rebuild.held, heldMessage{sender: ctx.Sender(), msg: ctx.Message()})
		}
		return
	}
	g.handle(ctx, ctx.Sender(), ctx.Message())
}

func (g *channelGrain) handle(ctx actor.Context, sender *actor.PID, msg any) {
	switch m := msg.(type) {
	case *messages.Publish:
		g.publish(ctx, m)
		if sender != nil {
			ctx.Send(sender, &messages.PublishAck{})
		}
	case *messages.Subscribe:
		g.subscribe(ctx, sender, m)
	case *messages.Unsubscribe:
		g.unsubscribe(ctx, m)
	case *messages.ChannelInfoRequest:
		ctx.Send(sender, g.info(m.WithUsers))
	case *messages.NodeLeft:
		g.nodeLeft(ctx, m.Address)
	case subscriptionCountTick:
		g.sendSubscriptionCount(ctx)
	case vacateCheck:
		if m.gen == g.vacateGen && len(g.subscribers) == 0 {
			g.vacateGen, g.occupiedAnnounced = 0, false
			g.webhook(ctx, &WebhookEvent{Name: WebhookChannelVacated, Channel: g.ch.Name})
		}
	case removalCheck:
		if g.removalGen[m.userID] == m.gen {
			delete(g.removalGen, m.userID)
			if !g.roster.has(m.userID) {
				g.webhook(ctx, &WebhookEvent{Name: WebhookMemberRemoved, Channel: g.ch.Name, UserID: m.userID})
			}
		}
	case *actor.ReceiveTimeout:
		if len(g.subscribers) == 0 && g.cachedFrame() == nil {
			if g.engine.cluster == nil {
				g.engine.grains.release(channelKind, channelKey(g.app.ID, g.ch.Name), ctx.Self())
			}
			ctx.Stop(ctx.Self())
		}
	}
}

// clusterInit starts a cluster activation: learn the identity, then ask every member for its
// local subscribers before serving anything.
func (g *channelGrain) clusterInit(ctx actor.Context, m *cluster.ClusterInit) {
	appID, channel := splitChannelKey(m.Identity.Identity)
	app, ok := g.engine.apps.byID[appID]
	if !ok {
		ctx.Stop(ctx.Self())
		return
	}
	g.init(app, channel)
	g.engine.localGrains.add(ctx.Self())
	members := g.engine.members()
	g.rebuild = &rebuildState{waiting: len(members), knownMembers: map[string]bool{}}
	req := &messages.NodeStateRequest{AppId: appID, Channel: channel}
	for _, addr := range members {
		ctx.Request(nodePID(addr), req)
	}
	self, root := ctx.Self(), g.engine.system.Root
	time.AfterFunc(g.engine.rebuildTimeout, func() { root.Send(self, rebuildDeadline{}) })
}

func (g *channelGrain) merge(ctx actor.Context, s *messages.NodeState) {
	if s.Fanout != nil && len(s.Sockets) > 0 {
		node := pidKey(s.Fanout)
		n := &nodeSubscribers{pid: s.Fanout}
		g.nodes[node] = n
		for _, sock := range s.Sockets {
			if _, dup := g.subscribers[sock.SocketId]; dup {
				continue
			}
			n.count++
			g.subscribers[sock.SocketId] = subscriber{node: node, userID: sock.UserId}
			if g.roster != nil {
				g.roster.add(sock.UserId, sock.UserInfo, node)
			}
		}
	}
	for _, id := range s.KnownMembers {
		g.rebuild.knownMembers[id] = true
	}
	if g.rebuild.waiting--; g.rebuild.waiting <= 0 {
		g.finishRebuild(ctx)
	}
}

// finishRebuild announces the members that no surviving node has a socket for (they were on
// a member that died with the old activation: removed once, here), then serves what it held.
func (g *channelGrain) finishRebuild(ctx actor.Context) {
	r := g.rebuild
	g.rebuild = nil
	if g.roster != nil {
		for id := range r.knownMembers {
			if !g.roster.has(id) {
				g.memberRemoved(ctx, id)
			}
		}
	}
	if len(g.subscribers) > 0 {
		ctx.CancelReceiveTimeout()
		g.occupiedAnnounced = true // the previous activation announced it
		g.countedOccupied = true
		g.app.Metrics.AddOccupiedChannels(1)
	}
	if g.roster != nil {
		g.app.Metrics.AddPresenceMembers(g.roster.count())
	}
	for _, h := range r.held {
		g.handle(ctx, h.sender, h.msg)
	}
}

func (g *channelGrain) publish(ctx actor.Context, m *messages.Publish) {
	if len(g.nodes) == 0 && !g.ch.Cache {
		return
	}
	traced, span := g.engine.tel.StartPublishSpan(telemetry.Extract(m.Trace), g.app.ID, g.ch.Name, m.Event)
	defer span.End()
	kind := telemetry.KindAPIEvent
	if m.DataIsJson {
		kind = telemetry.KindClientEvent
	}
	var frame []byte
	if m.DataIsJson {
		frame = protocol.AppendEventRawData(nil, m.Event, g.ch.Name, m.Data, m.UserId)
	} else {
		frame = protocol.AppendEvent(nil, m.Event, g.ch.Name, string(m.Data), m.UserId)
	}
	if g.ch.Cache {
		g.cached = &cachedEvent{frame: frame, expires: time.Now().Add(g.app.CacheTTL)}
	}
	if m.DataIsJson && protocol.IsClientEvent(m.Event) && g.app.webhooks.wants(WebhookClientEvent) {
		g.webhook(ctx, &WebhookEvent{Name: WebhookClientEvent, Channel: g.ch.Name, Event: m.Event,
			Data: clientEventData(m.Data), SocketID: m.ExcludeSocketId, UserID: m.UserId})
	}
	g.deliver(ctx, &messages.Deliver{
		Frame:            frame,
		ExcludeSocketId:  m.ExcludeSocketId,
		AcceptedUnixNano: m.AcceptedUnixNano,
		Trace:            telemetry.Inject(traced),
		Kind:             int32(kind),
	})
}

// deliver sends one message to every node with subscribers; the message is shared, not copied.
func (g *channelGrain) deliver(ctx actor.Context, d *messages.Deliver) {
	for _, n := range g.nodes {
		ctx.Send(n.pid, d)
	}
}

func (g *channelGrain) subscribe(ctx actor.Context, sender *actor.PID, m *messages.Subscribe) {
	if _, dup := g.subscribers[m.SocketId]; dup {
		ctx.Send(sender, g.subscribeResult(m))
		return
	}
	if g.roster != nil && !g.roster.has(m.UserId) {
		if limit := g.app.Limits.MaxPresenceMembers; limit > 0 && g.roster.count() >= limit {
			ctx.Send(sender, &messages.SubscribeResult{
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
	if len(g.subscribers) == 1 {
		g.countedOccupied = true
		g.app.Metrics.AddOccupiedChannels(1)
		g.occupied(ctx)
	}

	newMember := g.roster != nil && g.roster.add(m.UserId, m.UserInfo, node)
	res := g.subscribeResult(m)
	ctx.Send(sender, res)
	if res.CacheMiss {
		g.webhook(ctx, &WebhookEvent{Name: WebhookCacheMiss, Channel: g.ch.Name})
	}
	if newMember {
		g.app.Metrics.AddPresenceMembers(1)
		frame := protocol.AppendEvent(nil, protocol.EventMemberAdded, g.ch.Name, memberJSON(m.UserId, m.UserInfo), "")
		g.deliver(ctx, &messages.Deliver{Frame: frame, ExcludeSocketId: m.SocketId, Trace: m.Trace, MemberAdded: m.UserId, Kind: int32(telemetry.KindInternal)})
		if _, back := g.removalGen[m.UserId]; back {
			delete(g.removalGen, m.UserId) // its member_removed was never sent: nor is this
		} else {
			g.webhook(ctx, &WebhookEvent{Name: WebhookMemberAdded, Channel: g.ch.Name, UserID: m.UserId})
		}
	}
	g.subscriptionCountChanged(ctx)
}

func (g *channelGrain) subscribeResult(m *messages.Subscribe) *messages.SubscribeResult {
	res := &messages.SubscribeResult{SocketId: m.SocketId, Ok: true, Frame: g.succeededFrame()}
	if g.ch.Cache {
		res.CachedFrame = g.cachedFrame()
		res.CacheMiss = res.CachedFrame == nil
	}
	if g.roster != nil && m.WantMemberIds {
		res.MemberIds = g.roster.userIDs()
	}
	return res
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
		g.memberRemoved(ctx, s.userID)
	}
	g.becameEmptyMaybe(ctx)
}

// nodeLeft drops every subscriber of a member that is gone, once, in this grain.
func (g *channelGrain) nodeLeft(ctx actor.Context, address string) {
	for key, n := range g.nodes {
		if n.pid.Address != address {
			continue
		}
		delete(g.nodes, key)
		for id, s := range g.subscribers {
			if s.node == key {
				delete(g.subscribers, id)
			}
		}
		if g.roster != nil {
			for _, user := range g.roster.removeNode(key) {
				g.memberRemoved(ctx, user)
			}
		}
	}
	g.becameEmptyMaybe(ctx)
}

func (g *channelGrain) memberRemoved(ctx actor.Context, userID string) {
	g.app.Metrics.AddPresenceMembers(-1)
	frame := protocol.AppendEvent(nil, protocol.EventMemberRemoved, g.ch.Name, removedJSON(userID), "")
	g.deliver(ctx, &messages.Deliver{Frame: frame, MemberRemoved: userID, Kind: int32(telemetry.KindInternal)})
	if g.app.webhooks.wants(WebhookMemberRemoved) {
		g.gen++
		g.removalGen[userID] = g.gen
		g.after(ctx, removalCheck{userID: userID, gen: g.gen})
	}
}

func (g *channelGrain) becameEmptyMaybe(ctx actor.Context) {
	g.subscriptionCountChanged(ctx)
	if len(g.subscribers) == 0 && g.countedOccupied {
		g.countedOccupied = false
		g.app.Metrics.AddOccupiedChannels(-1)
	}
	if len(g.subscribers) == 0 {
		ctx.SetReceiveTimeout(grainIdleTimeout)
		if g.occupiedAnnounced && g.vacateGen == 0 {
			g.gen++
			g.vacateGen = g.gen
			g.after(ctx, vacateCheck{gen: g.gen})
		}
	}
}

// occupied is the first subscriber: channel_occupied, unless the channel was vacated less than
// webhookDelay ago, in which case its channel_vacated is dropped instead.
func (g *channelGrain) occupied(ctx actor.Context) {
	if g.vacateGen != 0 {
		g.vacateGen = 0
		return
	}
	if !g.occupiedAnnounced {
		g.occupiedAnnounced = true
		g.webhook(ctx, &WebhookEvent{Name: WebhookChannelOccupied, Channel: g.ch.Name})
	}
}

// after delivers msg to the grain after the webhook delay.
func (g *channelGrain) after(ctx actor.Context, msg any) {
	self, root := ctx.Self(), g.engine.system.Root
	time.AfterFunc(g.engine.webhookDelay, func() { root.Send(self, msg) })
}

func (g *channelGrain) webhook(ctx actor.Context, ev *WebhookEvent) {
	g.app.webhooks.emit(ctx, ev)
}

// clientEventData is a client event's data as the webhook carries it: a string as is, any
// other JSON value as its text.
func clientEventData(raw []byte) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
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
	if !g.app.SubscriptionCount || g.countTimerSet || g.ch.Kind == protocol.Presence {
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
	g.deliver(ctx, &messages.Deliver{Frame: protocol.AppendEvent(nil, protocol.EventSubscriptionCount, g.ch.Name, data, ""), Kind: int32(telemetry.KindInternal)})
	g.webhook(ctx, &WebhookEvent{Name: WebhookSubscriptionCount, Channel: g.ch.Name, SubscriptionCount: &n})
}

func (g *channelGrain) succeededFrame() []byte {
	if g.roster != nil {
		return g.roster.succeededFrame(g.ch.Name)
	}
	return protocol.AppendEvent(nil, protocol.EventSubscriptionSucceeded, g.ch.Name, "{}", "")
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

// measureGone takes this activation's channel and members out of the gauges as it stops.
func (g *channelGrain) measureGone() {
	if g.countedOccupied {
		g.app.Metrics.AddOccupiedChannels(-1)
	}
	if g.roster != nil {
		g.app.Metrics.AddPresenceMembers(-g.roster.count())
	}
}
