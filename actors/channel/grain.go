// Package channel is the channel grain: the one authority for one app's channel across the
// cluster. It knows which nodes have subscribers and how many, the presence roster, the cache
// channel's last event, and produces, exactly once for the whole cluster, the channel's
// webhooks. It encodes each published event once and sends it to each node with subscribers.
//
// The grain itself only receives messages and orders the work; each concern is a small part in
// plain Go, with no actor context, tested on its own:
//
//	subscribers.go  sockets per node, the nodes a publish goes to
//	roster.go       the presence roster and its subscription_succeeded frame
//	cache.go        a cache channel's last event and its TTL
//	debounce.go     Pusher's delay on channel_vacated / member_removed
//	counter.go      subscription_count, coalesced to one update a second
//	rebuild.go      a re-activated grain rebuilding itself from every member's sockets
//	confirm.go      publishes answered once third nodes confirmed they have them
//
// In a cluster a grain can be re-activated on another member (its member died, or the topology
// moved it). Grain state is soft: a new activation asks every member for its local subscribers
// of the channel and holds the messages it receives until it has rebuilt.
package channel

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

const (
	// idleTimeout is how long an empty grain lives before it stops.
	idleTimeout = 5 * time.Second
	// countInterval spaces subscription_count updates: Pusher sends at most one a second.
	countInterval = time.Second
	// publishesKept is how many publish ids the grain remembers at most, to take each publish
	// once (for node.Timing.PublishIDsFor).
	publishesKept = 4096
)

// Messages the grain schedules to itself on the node's clock.
type (
	countTick       struct{} // send subscription_count if it changed
	rebuildDeadline struct{} // stop waiting for members that do not answer
	vacateCheck     struct{ gen int }
	removalCheck    struct {
		userID string
		gen    int
	}
	idleCheck struct{ gen int }
)

// Grain is the actor of one channel.
type Grain struct {
	n   *node.Node
	app *node.App
	ch  protocol.Channel

	subs    *subscribers
	roster  *roster // presence channels only
	last    lastEvent
	hooks   *webhookDebouncer
	counts  *countCoalescer
	rebuild *rebuild        // non-nil while rebuilding after a re-activation
	recent  *node.RecentIDs // publish ids taken
	// unconfirmed: publishes taken, not answered until the third nodes confirm them.
	unconfirmed *unconfirmed
	rep         replication

	idleGen   int
	idleTimer clockwork.Timer // pending idle check, nil when none

	countedOccupied bool // this activation counts the channel in herald_occupied_channels
	// refused: a cluster activation on a member that does not own the channel; it answers
	// every request with a dead letter (the sender asks again, the owner) and stops.
	refused bool
}

// Props makes the grain of app's channel on a single node.
func Props(n *node.Node, app *node.App, channel string) *actor.Props {
	return n.Props(func() actor.Actor {
		g := newGrain(n)
		g.init(app, channel)
		return g
	})
}

// ClusterProps makes cluster activations, which learn their channel from cluster.ClusterInit.
func ClusterProps(n *node.Node) *actor.Props {
	return n.Props(func() actor.Actor { return newGrain(n) })
}

func newGrain(n *node.Node) *Grain {
	return &Grain{n: n, subs: newSubscribers(), hooks: newWebhookDebouncer(), counts: newCountCoalescer(), recent: node.NewRecentIDs(publishesKept, n.Timing.PublishIDsFor()), unconfirmed: newUnconfirmed(n.Timing.PublishIDsFor())}
}

func (g *Grain) init(app *node.App, channel string) {
	g.app = app
	g.ch = protocol.ClassifyChannel(channel)
	if g.ch.Kind == protocol.Presence {
		g.roster = newRoster()
	}
}

// Receive handles the grain's life cycle and rebuild, holds messages while rebuilding, and
// hands the rest to handle.
func (g *Grain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if g.app != nil {
			g.idleMaybe(ctx)
		}
		return
	case *cluster.ClusterInit:
		g.clusterInit(ctx, m)
		return
	case *messages.HandOver:
		g.handOver(ctx, m)
		return
	case *actor.Stopping:
		// proto.actor stops an activation whose member no longer owns it (the topology moved it),
		// dropping what it holds: answer the held requests with a dead letter, so that their
		// senders ask the grain now in charge instead of waiting for their timeout.
		if g.rebuild != nil {
			for _, h := range g.rebuild.held {
				if h.sender != nil {
					ctx.Send(h.sender, &actor.DeadLetterResponse{Target: ctx.Self()})
				}
			}
			g.rebuild.held = nil
		}
		for _, p := range g.unconfirmed.abandon() {
			ctx.Send(p.sender, &actor.DeadLetterResponse{Target: ctx.Self()})
		}
		return
	case *actor.Stopped:
		if g.idleTimer != nil {
			g.idleTimer.Stop()
		}
		if g.app != nil {
			g.n.LocalGrains.Remove(node.ChannelKind, g.key(), ctx.Self())
			g.measureGone()
		}
		return
	case *messages.NodeState:
		if g.rebuild != nil {
			g.merge(ctx, m)
		} else if g.app != nil && !g.refused {
			g.lateState(ctx, m)
		}
		return
	case *actor.DeadLetterResponse:
		if g.rebuild != nil && m.Target != nil && m.Target.Id == node.NodeActorName {
			g.merge(ctx, &messages.NodeState{Member: m.Target.Address}) // a member without a node actor has no sockets
		} else if m.Target != nil {
			g.answer(ctx, g.unconfirmed.fanoutGone(node.PIDKey(m.Target))...) // its member cannot be reached
		}
		return
	case rebuildDeadline:
		if g.rebuild != nil {
			g.rebuildTimedOut(ctx)
		}
		return
	}
	if g.refused {
		if _, system := ctx.Message().(actor.SystemMessage); !system && ctx.Sender() != nil {
			ctx.Respond(&actor.DeadLetterResponse{Target: ctx.Self()})
		}
		return
	}
	if g.app == nil {
		return // an activation for an app this node does not know: nothing to serve
	}
	if g.rebuild != nil {
		if _, system := ctx.Message().(actor.SystemMessage); !system {
			if sender := ctx.Sender(); sender != nil {
				g.askMember(ctx, sender.Address) // its member knows of the channel: ask it too
			}
			g.rebuild.hold(ctx.Sender(), ctx.Message())
		}
		return
	}
	g.handle(ctx, ctx.Sender(), ctx.Message())
	g.idleMaybe(ctx)
}

func (g *Grain) handle(ctx actor.Context, sender *actor.PID, msg any) {
	switch m := msg.(type) {
	case *messages.Publish:
		g.takePublish(ctx, sender, m)
	case *messages.Written:
		if p := g.unconfirmed.confirmed(m.PublishId, m.Fanout); p != nil {
			g.answer(ctx, p)
		}
	case *messages.Subscribe:
		g.subscribe(ctx, sender, m)
	case *messages.Unsubscribe:
		if sub, ok := g.subs.remove(m.SocketId); ok {
			if !g.subs.hasNode(sub.node) {
				g.answer(ctx, g.unconfirmed.fanoutGone(sub.node)...) // nothing left there to write to
			}
			if g.roster != nil && g.roster.remove(sub.userID, sub.node) {
				g.memberRemoved(ctx, sub.userID)
			}
			g.subscribersLeft(ctx)
		}
	case *messages.ChannelInfoRequest:
		ctx.Send(sender, g.info(m.WithUsers))
	case *messages.NodeLeft:
		g.answer(ctx, g.unconfirmed.memberGone(m.Address)...)
		for _, key := range g.subs.removeAddress(m.Address) {
			if g.roster != nil {
				for _, user := range g.roster.removeNode(key) {
					g.memberRemoved(ctx, user)
				}
			}
		}
		g.subscribersLeft(ctx)
		g.replicate(ctx, &messages.ReplicaUpdate{}) // the member next in line may have changed
	case *messages.TopologyChanged:
		// The member next in line may have changed, or restarted (it joined again): either way it
		// gets the whole state.
		g.replicate(ctx, &messages.ReplicaUpdate{Whole: slices.Contains(m.Joined, g.rep.backup)})
	case countTick:
		g.sendCount(ctx)
	case vacateCheck, removalCheck:
		if g.n.Leaving.Load() {
			return // the next activation has the check from the replica, and sends it
		}
		g.check(ctx, m)
	case idleCheck:
		if m.gen == g.idleGen {
			g.idleTimer = nil
			g.stopIfIdle(ctx)
		}
	}
}

// check is a webhook check coming due.
func (g *Grain) check(ctx actor.Context, msg any) {
	switch m := msg.(type) {
	case vacateCheck:
		if g.hooks.vacateDue(m.gen, g.subs.count() == 0) {
			g.emit(&protocol.WebhookEvent{Name: protocol.WebhookChannelVacated, Channel: g.ch.Name})
			g.replicate(ctx, &messages.ReplicaUpdate{})
		}
	case removalCheck:
		if g.hooks.removalDue(m.userID, m.gen, g.roster.has(m.userID)) {
			g.emit(&protocol.WebhookEvent{Name: protocol.WebhookMemberRemoved, Channel: g.ch.Name, UserID: m.userID})
		}
		g.replicate(ctx, &messages.ReplicaUpdate{})
	}
}

// takePublish publishes m once per publish id, and answers sender once every node that must
// confirm the delivery did (unconfirmed).
func (g *Grain) takePublish(ctx actor.Context, sender *actor.PID, m *messages.Publish) {
	if !g.recent.Seen(m.PublishId, g.n.Clock.Now()) {
		if g.publish(ctx, sender, m) {
			return // answered when confirmed
		}
	} else if p := g.unconfirmed.get(m.PublishId); p != nil && sender != nil {
		// Sent again while a node has not confirmed: its Deliver or its confirmation may be lost.
		p.sender = sender
		for _, fanout := range p.waiting {
			ctx.Request(fanout, p.deliver)
		}
		return
	}
	if sender != nil {
		ctx.Send(sender, &messages.PublishAck{PublishId: m.PublishId})
	}
}

// answer tells the sender of each publish that it is taken, and every node with subscribers
// has it.
func (g *Grain) answer(ctx actor.Context, published ...*pendingPublish) {
	for _, p := range published {
		ctx.Send(p.sender, &messages.PublishAck{PublishId: p.id})
	}
}

// publish encodes m once and delivers it to every node with subscribers. It reports whether the
// answer to sender waits for nodes to confirm (unconfirmed).
func (g *Grain) publish(ctx actor.Context, sender *actor.PID, m *messages.Publish) (waits bool) {
	if g.n.Tap.Watched(g.app.ID) {
		g.recordPublish(m)
	}
	if g.subs.count() == 0 && !g.ch.Cache {
		return false
	}
	traced, span := g.n.Tel.StartPublishSpan(telemetry.Extract(m.Trace), g.app.ID, g.ch.Name, m.Event)
	defer span.End()
	settings := g.app.Settings()
	kind := telemetry.KindAPIEvent
	var frame []byte
	if m.DataIsJson {
		kind = telemetry.KindClientEvent
		frame = protocol.ClientEventFrame(m.Event, g.ch.Name, m.Data, m.UserId)
		if settings.WantsWebhook(protocol.WebhookClientEvent) {
			text, _ := protocol.EventText(m.Data) // the connection checked the data
			g.emit(&protocol.WebhookEvent{Name: protocol.WebhookClientEvent, Channel: g.ch.Name, Event: m.Event,
				Data: text, SocketID: m.ExcludeSocketId, UserID: m.UserId})
		}
	} else {
		frame = protocol.AppendEvent(nil, m.Event, g.ch.Name, string(m.Data), m.UserId)
	}
	if g.ch.Cache {
		g.last.set(frame, g.n.Clock.Now(), settings.CacheTTL)
		g.replicate(ctx, &messages.ReplicaUpdate{CachedFrame: frame, CacheExpiresUnixNano: g.last.expires.UnixNano()})
	}
	d := &messages.Deliver{
		Frame:            frame,
		ExcludeSocketId:  m.ExcludeSocketId,
		AcceptedUnixNano: m.AcceptedUnixNano,
		TakenUnixNano:    g.n.Clock.Now().UnixNano(),
		Trace:            telemetry.Inject(traced),
		Kind:             int32(kind),
		PublishId:        m.PublishId,
	}
	waiting := g.deliver(ctx, d, sender, nil)
	if waiting == nil {
		return false
	}
	g.unconfirmed.wait(d, waiting, sender, g.n.Clock.Now())
	return true
}

// deliver sends one message to every node with subscribers but except (a fan-out that has it in
// an answer already; nil: none); the message is shared, not copied. A publish (publisher is its
// sender) goes to a fan-out on a third node as a request, answered by Written: deliver returns
// those fan-outs (see unconfirmed).
func (g *Grain) deliver(ctx actor.Context, d *messages.Deliver, publisher, except *actor.PID) (awaited []*actor.PID) {
	g.subs.fanouts(func(fanout *actor.PID) {
		if except != nil && fanout.Equal(except) {
			return
		}
		if d.PublishId != "" && awaitsConfirmation(fanout, ctx.Self(), publisher) {
			ctx.Request(fanout, d)
			awaited = append(awaited, fanout)
		} else {
			ctx.Send(fanout, d)
		}
	})
	return awaited
}

func (g *Grain) subscribe(ctx actor.Context, sender *actor.PID, m *messages.Subscribe) {
	if g.subs.has(m.SocketId) {
		// A join sent again after a dead letter, or one a rebuild counted already: same answer.
		ctx.Send(sender, g.subscribeResult(ctx, m))
		return
	}
	if g.roster != nil && !g.roster.has(m.UserId) && g.roster.count() >= g.app.Settings().Limits.MaxPresenceMembers {
		ctx.Send(sender, &messages.SubscribeResult{
			SocketId: m.SocketId, ErrorType: protocol.SubscriptionErrorLimitReached,
			Error: "presence channel is full", Status: protocol.SubscriptionStatusForbidden,
		})
		return
	}
	nodeKey := node.PIDKey(m.Node)
	g.subs.add(m.SocketId, nodeKey, m.Node, m.UserId)
	first := g.subs.count() == 1
	if first {
		g.countedOccupied = true
		g.app.Metrics.AddOccupiedChannels(1)
		g.record(node.EventOccupied, "")
		if g.hooks.occupied() {
			g.emit(&protocol.WebhookEvent{Name: protocol.WebhookChannelOccupied, Channel: g.ch.Name})
		}
	}
	newMember := g.roster != nil && g.roster.add(m.UserId, m.UserInfo, nodeKey)
	res := g.subscribeResult(ctx, m)
	var added *messages.Deliver
	var answered *actor.PID // the fan-out that gets added with its answer, not on its own
	if newMember {
		added = g.memberAdded(m)
		if sender != nil && sender.Equal(m.Node) {
			res.MemberAdded, answered = added, m.Node
		}
	}
	ctx.Send(sender, res)
	if res.CacheMiss {
		g.emit(&protocol.WebhookEvent{Name: protocol.WebhookCacheMiss, Channel: g.ch.Name})
	}
	if newMember {
		g.app.Metrics.AddPresenceMembers(1)
		g.record(node.EventMemberAdded, m.UserId)
		g.deliver(ctx, added, nil, answered)
		if g.hooks.memberAdded(m.UserId) {
			g.emit(&protocol.WebhookEvent{Name: protocol.WebhookMemberAdded, Channel: g.ch.Name, UserID: m.UserId})
		}
		g.replicate(ctx, &messages.ReplicaUpdate{MembersAdded: []string{m.UserId}})
	} else if first {
		g.replicate(ctx, &messages.ReplicaUpdate{})
	}
	g.countChanged(ctx)
}

// memberAdded is the member_added of the join m, for every socket but the joining one.
func (g *Grain) memberAdded(m *messages.Subscribe) *messages.Deliver {
	return &messages.Deliver{
		Frame:           protocol.MemberAddedFrame(g.ch.Name, m.UserId, m.UserInfo),
		ExcludeSocketId: m.SocketId, Trace: m.Trace, MemberAdded: m.UserId, Kind: int32(telemetry.KindInternal),
	}
}

func (g *Grain) subscribeResult(ctx actor.Context, m *messages.Subscribe) *messages.SubscribeResult {
	res := &messages.SubscribeResult{SocketId: m.SocketId, Ok: true, Grain: ctx.Self()}
	if g.roster != nil {
		res.Frame = g.roster.succeededFrame(g.ch.Name)
		if m.WantMemberIds {
			res.MemberIds = g.roster.userIDs()
		}
	} else {
		res.Frame = protocol.SubscriptionSucceededFrame(g.ch.Name)
	}
	if g.ch.Cache {
		res.CachedFrame = g.last.get(g.n.Clock.Now())
		res.CacheMiss = res.CachedFrame == nil
	}
	return res
}

// memberRemoved tells every node a member left, and schedules its member_removed webhook.
func (g *Grain) memberRemoved(ctx actor.Context, userID string) {
	g.app.Metrics.AddPresenceMembers(-1)
	g.record(node.EventMemberRemoved, userID)
	now := g.n.Clock.Now()
	g.deliver(ctx, &messages.Deliver{
		Frame: protocol.MemberRemovedFrame(g.ch.Name, userID), MemberRemoved: userID, RemovedUnixNano: now.UnixNano(),
		Kind: int32(telemetry.KindInternal),
	}, nil, nil)
	if g.app.Settings().WantsWebhook(protocol.WebhookMemberRemoved) {
		at := now.Add(g.n.Timing.WebhookDelay)
		g.n.After(g.n.Timing.WebhookDelay, ctx.Self(), removalCheck{userID: userID, gen: g.hooks.memberRemoved(userID, at)})
	}
	g.replicate(ctx, &messages.ReplicaUpdate{MembersRemoved: []string{userID}})
}

// subscribersLeft follows every removal of subscribers: the count changed, and the channel may
// be empty now.
func (g *Grain) subscribersLeft(ctx actor.Context) {
	g.countChanged(ctx)
	if g.subs.count() > 0 {
		return
	}
	if g.countedOccupied {
		g.countedOccupied = false
		g.app.Metrics.AddOccupiedChannels(-1)
		g.record(node.EventVacated, "")
	}
	if gen := g.hooks.vacated(g.n.Clock.Now().Add(g.n.Timing.WebhookDelay)); gen != 0 {
		if g.app.Settings().WantsWebhook(protocol.WebhookChannelVacated) {
			g.n.After(g.n.Timing.WebhookDelay, ctx.Self(), vacateCheck{gen: gen})
		} else {
			g.hooks.vacateDue(gen, true) // nobody gets it: vacated at once, so a return is announced
		}
		g.replicate(ctx, &messages.ReplicaUpdate{})
	}
}

func (g *Grain) countChanged(ctx actor.Context) {
	if !g.app.Settings().SubscriptionCount || g.ch.Kind == protocol.Presence {
		return
	}
	if g.counts.changed() {
		g.n.After(countInterval, ctx.Self(), countTick{})
	}
}

func (g *Grain) sendCount(ctx actor.Context) {
	n := int64(g.subs.count())
	if !g.counts.due(n) {
		return
	}
	g.deliver(ctx, &messages.Deliver{Frame: protocol.SubscriptionCountFrame(g.ch.Name, n), Kind: int32(telemetry.KindInternal)}, nil, nil)
	g.emit(&protocol.WebhookEvent{Name: protocol.WebhookSubscriptionCount, Channel: g.ch.Name, SubscriptionCount: &n})
}

// emit hands a webhook event to the node's webhook delivery, if some target of the app gets it.
func (g *Grain) emit(ev *protocol.WebhookEvent) {
	if settings := g.app.Settings(); settings.WantsWebhook(ev.Name) {
		g.n.Webhooks.Emit(settings, ev)
	}
}

func (g *Grain) info(withUsers bool) *messages.ChannelInfo {
	info := &messages.ChannelInfo{Occupied: g.subs.count() > 0, SubscriptionCount: int64(g.subs.count())}
	if g.roster != nil {
		info.UserCount = int64(g.roster.count())
		if withUsers {
			info.UserIds = g.roster.userIDs()
		}
	}
	return info
}

// idleMaybe arms the idle check when the grain has nothing to do: no subscribers and no
// scheduled work. Any message that changes that makes the armed check stale.
func (g *Grain) idleMaybe(ctx actor.Context) {
	if !g.idle() {
		g.idleGen++ // a check armed before is stale
		if g.idleTimer != nil {
			g.idleTimer.Stop()
			g.idleTimer = nil
		}
		return
	}
	if g.idleTimer == nil {
		g.idleGen++
		g.idleTimer = g.n.After(idleTimeout, ctx.Self(), idleCheck{gen: g.idleGen})
	}
}

func (g *Grain) idle() bool {
	return g.rebuild == nil && g.subs.count() == 0 && !g.hooks.pending() && !g.counts.scheduled
}

// stopIfIdle stops an idle grain, unless it keeps a cache channel's event that has not expired.
func (g *Grain) stopIfIdle(ctx actor.Context) {
	if !g.idle() {
		return
	}
	if g.ch.Cache && g.last.get(g.n.Clock.Now()) != nil {
		g.idleMaybe(ctx) // check again later
		return
	}
	g.dropReplica(ctx)
	g.n.Grains.Release(node.ChannelKind, g.key(), ctx.Self())
	ctx.Stop(ctx.Self())
}

// clusterInit starts a cluster activation: learn the identity, then ask every member for its
// local subscribers before serving anything.
func (g *Grain) clusterInit(ctx actor.Context, m *cluster.ClusterInit) {
	if !g.n.Owns(node.ChannelKind, m.Identity.Identity) {
		g.refused = true
		ctx.Stop(ctx.Self())
		return
	}
	appID, channel := node.SplitKey(m.Identity.Identity)
	app, ok := g.n.Apps.ByID(appID)
	if !ok {
		ctx.Stop(ctx.Self())
		return
	}
	g.init(app, channel)
	g.n.LocalGrains.Add(node.ChannelKind, m.Identity.Identity, ctx.Self())
	g.rebuild = newRebuild()
	for _, addr := range g.n.Members() {
		g.askMember(ctx, addr)
	}
	g.armRebuildTimeout(ctx)
}

// askMember asks a member for its part of the channel, once per rebuild.
func (g *Grain) askMember(ctx actor.Context, addr string) {
	if g.rebuild.ask(addr) {
		ctx.Request(node.NodeActor(addr), &messages.NodeStateRequest{AppId: g.app.ID, Channel: g.ch.Name})
	}
}

func (g *Grain) merge(ctx actor.Context, s *messages.NodeState) {
	for _, addr := range s.Members {
		g.askMember(ctx, addr)
	}
	if s.Fanout != nil {
		key := node.PIDKey(s.Fanout)
		for _, sock := range s.Sockets {
			if g.subs.add(sock.SocketId, key, s.Fanout, sock.UserId) && g.roster != nil {
				g.roster.add(sock.UserId, sock.UserInfo, key)
			}
		}
	}
	g.rebuild.removedLately(s.RecentlyRemoved)
	if g.rebuild.answered(s.Member, s.KnownMembers, s.Replica) {
		g.finishRebuild(ctx)
	}
}

// rebuildMaxRounds bounds the rebuild timeouts a grain waits for members that are still members
// but do not answer.
const rebuildMaxRounds = 3

// rebuildTimedOut is a rebuild timeout with members still silent: those that left are no longer
// waited for, the others are asked again (an answer can be lost while proto.actor's remote
// reconnects to a member restarted at the same address), up to rebuildMaxRounds; then the grain
// serves with what it has, and merges later answers as they come (lateState).
func (g *Grain) rebuildTimedOut(ctx actor.Context) {
	r := g.rebuild
	r.rounds++
	members := g.n.Members()
	for _, m := range r.silent() {
		if !slices.Contains(members, m) || r.rounds >= rebuildMaxRounds {
			if r.answered(m, nil, nil) {
				g.finishRebuild(ctx)
				return
			}
			continue
		}
		ctx.Request(node.NodeActor(m), &messages.NodeStateRequest{AppId: g.app.ID, Channel: g.ch.Name})
	}
	if g.rebuild != nil {
		g.armRebuildTimeout(ctx)
	}
}

// armRebuildTimeout runs on the real clock, not the node's: it bounds a wait for other members,
// as request timeouts do, and must fire in tests that hold the node's clock still.
func (g *Grain) armRebuildTimeout(ctx actor.Context) {
	self, root := ctx.Self(), g.n.Root
	time.AfterFunc(g.n.Timing.RebuildTimeout, func() { root.Send(self, rebuildDeadline{}) })
}

// lateState takes a member's part that came after the rebuild ended (its answer was slower
// than the rebuild timeout: a member restarted at the same address is reached again only when
// proto.actor's remote reconnects): its sockets are counted from now on, and its members that
// the roster lacks are announced as new.
func (g *Grain) lateState(ctx actor.Context, s *messages.NodeState) {
	if s.Fanout == nil {
		return
	}
	key := node.PIDKey(s.Fanout)
	added := false
	for _, sock := range s.Sockets {
		if !g.subs.add(sock.SocketId, key, s.Fanout, sock.UserId) {
			continue
		}
		added = true
		if g.roster != nil && g.roster.add(sock.UserId, sock.UserInfo, key) {
			g.app.Metrics.AddPresenceMembers(1)
			g.deliver(ctx, &messages.Deliver{
				Frame: protocol.MemberAddedFrame(g.ch.Name, sock.UserId, sock.UserInfo), MemberAdded: sock.UserId, Kind: int32(telemetry.KindInternal),
			}, nil, nil)
			if g.hooks.memberAdded(sock.UserId) {
				g.emit(&protocol.WebhookEvent{Name: protocol.WebhookMemberAdded, Channel: g.ch.Name, UserID: sock.UserId})
			}
			g.replicate(ctx, &messages.ReplicaUpdate{MembersAdded: []string{sock.UserId}})
		}
	}
	if added {
		if !g.countedOccupied {
			g.countedOccupied = true
			g.app.Metrics.AddOccupiedChannels(1)
			if g.hooks.occupied() {
				g.emit(&protocol.WebhookEvent{Name: protocol.WebhookChannelOccupied, Channel: g.ch.Name})
			}
		}
		g.countChanged(ctx)
		g.idleMaybe(ctx)
	}
}

// finishRebuild announces the members that no surviving node has a socket for, then serves
// what it held.
func (g *Grain) finishRebuild(ctx actor.Context) {
	r := g.rebuild
	g.rebuild = nil
	g.n.Tel.Metrics().AddRebuild()
	g.restore(ctx, r)
	g.resumeRemovals(ctx, r)
	if g.roster != nil {
		for _, id := range r.lost(g.roster.has) {
			g.memberRemoved(ctx, id)
		}
	}
	if g.subs.count() > 0 {
		g.hooks.resumeOccupied() // the previous activation announced it
		g.countedOccupied = true
		g.app.Metrics.AddOccupiedChannels(1)
	}
	if g.roster != nil {
		g.app.Metrics.AddPresenceMembers(g.roster.count())
	}
	// The whole state to the member next in line now; the other copies are stale.
	g.replicate(ctx, &messages.ReplicaUpdate{})
	for _, holder := range r.holders {
		if holder != g.rep.backup {
			ctx.Send(node.NodeActor(holder), &messages.ReplicaUpdate{AppId: g.app.ID, Channel: g.ch.Name, Drop: true})
		}
	}
	for _, h := range r.held {
		g.handle(ctx, h.sender, h.msg)
	}
	g.idleMaybe(ctx)
}

// key is the grain's identity: node.Key of its app and channel.
func (g *Grain) key() string { return node.Key(g.app.ID, g.ch.Name) }

// measureGone takes this activation's channel and members out of the gauges as it stops.
func (g *Grain) measureGone() {
	if g.countedOccupied {
		g.app.Metrics.AddOccupiedChannels(-1)
	}
	if g.roster != nil {
		g.app.Metrics.AddPresenceMembers(-g.roster.count())
	}
}
