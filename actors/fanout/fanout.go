// Package fanout is the node fan-out actor: one per channel per node with local subscribers. It
// holds the channel's sockets on this node and writes to each of them every frame the channel
// grain delivers, skipping the excluded socket: the last hop of the hot path, with no encoding
// and no allocation per socket. It forwards joins and leaves to the grain; because the grain's
// answers and its deliveries come back in the order the grain produced them, a socket receives
// subscription_succeeded before any event published after it was counted.
package fanout

import (
	"cmp"
	"maps"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// Fanout is the actor of one channel on one node.
type Fanout struct {
	n       *node.Node
	appID   string
	channel string
	kind    string // channel kind, the label of the subscriptions metric
	key     string
	metrics *telemetry.AppMetrics

	sockets []localSocket  // subscribed sockets, iterated on every delivery
	index   map[string]int // socket id -> position in sockets
	pending map[string]*messages.Join
	members map[string]bool // presence: mirror of the grain's roster, nil until known
	removed recentRemovals  // presence: the members the grain removed lately
	wakes   int             // wake-ups of the grain sent since the last answer
	retries int             // dead letters in a row: how long the next retry waits
	// retryArmed: a retry of what came back as a dead letter is scheduled.
	retryArmed bool
	written    *node.RecentIDs // publish ids written, so that a publish taken twice is written once
	// left: sockets that left in the last leftKept. Their unsubscribe went to where the grain
	// was; a grain that moved meanwhile may have counted them (a late answer to a subscribe, or
	// a rebuild that asked before they left): it is told again, on a late answer and on a
	// topology change. The fan-out lives on until leftKept after the last leave.
	left    map[string]bool
	lingers int // leftOver timers running
}

// leftOver ends the memory of the sockets that left.
type leftOver struct{}

// wakeRetry asks the grain again, after a subscribe or a wake-up came back as a dead letter.
type wakeRetry struct{}

// The wake-ups after a topology change go on until the grain in charge answers: until every
// member's view of the members agrees (a loaded cluster may take seconds), the member asked may
// refuse to activate the grain (it does not own it). They are spaced from wakeBackoff, doubling
// up to maxWakeBackoff, on the real clock: they wait for the cluster, not for a protocol timer.
const (
	wakeBackoff    = 50 * time.Millisecond
	maxWakeBackoff = time.Second
	// writtenKept is how many publish ids a fan-out remembers at most (for
	// node.Timing.PublishIDsFor): a repeat comes within the sender's retries.
	writtenKept = 256
	// leftKept is how long a grain that moved may not know of a leave: a subscribe in flight to
	// a grain that is moving is answered once a member activates it (the real clock).
	leftKept = 10 * time.Second
)

type localSocket struct {
	id   string
	sink node.Sink
	join *messages.Join // how it joined: its user, for a grain that rebuilds
}

// Props makes the fan-out actor of the channel whose node.Key is key.
func Props(n *node.Node, key string) *actor.Props {
	return n.Props(func() actor.Actor {
		appID, channel := node.SplitKey(key)
		f := &Fanout{
			n: n, appID: appID, channel: channel, kind: protocol.ClassifyChannel(channel).Kind.String(), key: key,
			index: map[string]int{}, pending: map[string]*messages.Join{}, written: node.NewRecentIDs(writtenKept, n.Timing.PublishIDsFor()),
		}
		if app, ok := n.Apps.ByID(appID); ok {
			f.metrics = app.Metrics
		}
		return f
	})
}

// Receive handles deliveries from the grain, joins and leaves from connections, and the
// cluster's questions about this node's part of the channel.
func (f *Fanout) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.Deliver:
		if sender := ctx.Sender(); sender != nil && m.PublishId != "" {
			// A publish the grain answers once this node has it: it is in the sockets' queues
			// (below) before this confirmation can leave.
			defer ctx.Send(sender, &messages.Written{PublishId: m.PublishId, Fanout: ctx.Self()})
		}
		f.deliver(m)
	case *messages.NodeStateRequest:
		st := f.state(ctx)
		st.Replica = m.Replica // the node actor's copy of the grain's replica, if it keeps one
		ctx.Respond(st)
	case *messages.TopologyChanged:
		// A subscribe sent to a grain on a member that died is never answered: ask again. The
		// grain in charge now may have counted sockets that left since: tell it again.
		f.resubscribePending(ctx)
		for id := range f.left {
			f.unsubscribe(ctx, f.n.Grains.ChannelPID(f.appID, f.channel), id)
		}
		// The grain may have moved or died with its member: wake the one now in charge, so it
		// rebuilds (and announces members lost with the dead member) without waiting for the
		// next event.
		f.wakes = 0
		f.wake(ctx)
	case *messages.ChannelInfo:
		f.wakes, f.retries = 0, 0 // the grain in charge answered the wake-up
	case wakeRetry:
		f.retryArmed = false
		f.resubscribePending(ctx)
		if f.wakes > 0 {
			f.wake(ctx)
		}
	case *messages.Join:
		f.n.Fanouts.Done(f.key)
		if _, ok := f.index[m.SocketID]; ok {
			return // a join resent after a dead letter, already done
		}
		delete(f.left, m.SocketID) // subscribed again: the leave before it is done with
		f.n.Fanouts.SetIdle(f.key, ctx.Self(), false)
		f.pending[m.SocketID] = m
		f.requestSubscribe(ctx, m)
	case *messages.SubscribeResult:
		f.subscribed(ctx, m)
	case *messages.Leave:
		f.leave(ctx, m.SocketID)
	case leftOver:
		if f.lingers--; f.lingers == 0 {
			clear(f.left)
			f.stopIfEmpty(ctx)
		}
	case *actor.DeadLetterResponse:
		// The grain stopped before it saw our subscribe or wake-up, or refused it (its member does
		// not own it, or is not ready): ask the one now in charge, found again rather than from
		// the cache, after a back-off, so that a refusal is not asked again at once.
		f.n.Grains.Forget(node.ChannelKind, f.key)
		f.retries++
		if !f.retryArmed {
			f.retryArmed = true
			self, root := ctx.Self(), f.n.Root
			wait := min(wakeBackoff<<min(f.retries-1, 5), maxWakeBackoff)
			time.AfterFunc(wait, func() { root.Send(self, wakeRetry{}) })
		}
	}
}

// wake asks the channel's grain for its counts, so that a grain that moved is activated (and
// rebuilds) now; the answer itself is not used.
func (f *Fanout) wake(ctx actor.Context) {
	if len(f.sockets) == 0 {
		return
	}
	f.wakes++
	ctx.Request(f.n.Grains.ChannelPID(f.appID, f.channel), &messages.ChannelInfoRequest{AppId: f.appID, Channel: f.channel})
}

// deliver writes d to the local sockets (but the one it excludes) and keeps the roster's mirror.
func (f *Fanout) deliver(d *messages.Deliver) {
	if f.written.Seen(d.PublishId, f.n.Clock.Now()) {
		return // a grain that died had delivered it before its successor took it again
	}
	f.write(d)
	if f.members != nil {
		if d.MemberAdded != "" {
			f.members[d.MemberAdded] = true
			f.removed.forget(d.MemberAdded)
		}
		if d.MemberRemoved != "" {
			delete(f.members, d.MemberRemoved)
			f.removed.add(d.MemberRemoved, d.RemovedUnixNano, 2*f.n.Timing.WebhookDelay)
		}
	}
}

func (f *Fanout) write(d *messages.Deliver) {
	var span trace.Span
	if d.Trace != nil {
		_, span = f.n.Tel.StartFanoutSpan(telemetry.Extract(d.Trace), f.appID, f.channel, f.n.Name)
	}
	n := 0
	shared := node.NewFrame(d.Frame)
	if taken := cmp.Or(d.TakenUnixNano, d.AcceptedUnixNano); taken != 0 {
		// The wait since the grain took the event (not since the HTTP API did: a publish sent
		// again after its grain died waited in no queue), on the node's clock (which tests may
		// move), carried over to the real clock that the socket's queueing delay is measured on.
		waited := max(0, f.n.Clock.Since(time.Unix(0, taken)))
		shared.Taken = time.Now().Add(-waited)
	}
	for i := range f.sockets {
		if s := &f.sockets[i]; s.id != d.ExcludeSocketId {
			s.sink.SendShared(shared)
			n++
		}
	}
	if span != nil {
		telemetry.EndFanoutSpan(span, n, n*len(d.Frame))
	}
	// Per delivery, not per socket: the metric calls cost more than a queued write.
	f.n.Fanned.Add(n, len(d.Frame))
	f.metrics.AddMessagesOut(telemetry.MessageKind(d.Kind), n)
	f.metrics.AddBytesOut(n * len(d.Frame))
	if d.AcceptedUnixNano != 0 {
		f.metrics.RecordDeliverySince(d.AcceptedUnixNano)
	}
}

func (f *Fanout) resubscribePending(ctx actor.Context) {
	for _, j := range f.pending {
		f.requestSubscribe(ctx, j)
	}
}

func (f *Fanout) requestSubscribe(ctx actor.Context, j *messages.Join) {
	ctx.Request(f.n.Grains.ChannelPID(f.appID, f.channel), &messages.Subscribe{
		AppId: f.appID, Channel: f.channel, SocketId: j.SocketID, Node: ctx.Self(),
		UserId: j.UserID, UserInfo: j.UserInfo, Trace: j.Trace,
		WantMemberIds: j.UserID != "" && f.members == nil,
	})
}

// state is this node's part of the channel, for a grain that rebuilds itself.
func (f *Fanout) state(ctx actor.Context) *messages.NodeState {
	st := &messages.NodeState{Fanout: ctx.Self(), Sockets: make([]*messages.SocketState, len(f.sockets)), Members: f.n.Members(), Member: ctx.ActorSystem().Address()}
	for i, s := range f.sockets {
		st.Sockets[i] = &messages.SocketState{SocketId: s.id, UserId: s.join.UserID, UserInfo: s.join.UserInfo}
	}
	for id := range f.members {
		st.KnownMembers = append(st.KnownMembers, id)
	}
	st.RecentlyRemoved = maps.Clone(f.removed.byUser) // a local grain reads it while this actor goes on
	return st
}

// subscribed takes the grain's answer to a join. The connection is told first: its Subscribed
// is then in its mailbox before the client can see subscription_succeeded and answer it.
func (f *Fanout) subscribed(ctx actor.Context, r *messages.SubscribeResult) {
	if r.MemberAdded != nil {
		// The join made a new member: its member_added to this node's other sockets came with the
		// answer, and goes out after it, whatever became of the joining socket meanwhile.
		defer f.deliver(r.MemberAdded)
	}
	j, ok := f.pending[r.SocketId]
	if !ok {
		if f.left[r.SocketId] && r.Ok && r.Grain != nil {
			// It left before this grain answered; the unsubscribe went to where the grain was.
			f.unsubscribe(ctx, r.Grain, r.SocketId)
		}
		return
	}
	delete(f.pending, r.SocketId)
	f.retries = 0
	if !r.Ok {
		ctx.Send(j.Conn, &messages.SubscribeRefused{Channel: f.channel, Type: r.ErrorType, Message: r.Error, Status: int(r.Status)})
		f.stopIfEmpty(ctx)
		return
	}
	ctx.Send(j.Conn, &messages.Subscribed{Channel: f.channel})
	j.Sink.Send(r.Frame)
	if r.MemberIds != nil && f.members == nil {
		f.members = make(map[string]bool, len(r.MemberIds))
		for _, id := range r.MemberIds {
			f.members[id] = true
		}
	}
	if r.CachedFrame != nil {
		j.Sink.Send(r.CachedFrame)
	} else if r.CacheMiss {
		j.Sink.Send(protocol.CacheMissFrame(f.channel))
	}
	f.metrics.AddSubscriptions(f.kind, 1)
	f.index[j.SocketID] = len(f.sockets)
	f.sockets = append(f.sockets, localSocket{id: j.SocketID, sink: j.Sink, join: j})
}

func (f *Fanout) leave(ctx actor.Context, socketID string) {
	_, wasPending := f.pending[socketID]
	i, wasSubscribed := f.index[socketID]
	if !wasPending && !wasSubscribed {
		return
	}
	delete(f.pending, socketID)
	if f.left == nil {
		f.left = map[string]bool{}
	}
	f.left[socketID] = true
	f.lingers++
	self, root := ctx.Self(), f.n.Root
	time.AfterFunc(leftKept, func() { root.Send(self, leftOver{}) })
	if wasSubscribed {
		f.metrics.AddSubscriptions(f.kind, -1)
		last := len(f.sockets) - 1
		f.sockets[i] = f.sockets[last]
		f.index[f.sockets[i].id] = i
		f.sockets[last] = localSocket{}
		f.sockets = f.sockets[:last]
		delete(f.index, socketID)
	}
	f.unsubscribe(ctx, f.n.Grains.ChannelPID(f.appID, f.channel), socketID)
	f.stopIfEmpty(ctx)
}

func (f *Fanout) unsubscribe(ctx actor.Context, grain *actor.PID, socketID string) {
	ctx.Send(grain, &messages.Unsubscribe{AppId: f.appID, Channel: f.channel, SocketId: socketID, Node: ctx.Self()})
}

func (f *Fanout) stopIfEmpty(ctx actor.Context) {
	if len(f.sockets) > 0 || len(f.pending) > 0 {
		return
	}
	// The grain delivers nothing to a node without sockets: the mirror of the roster would go
	// stale, and a rebuild must not take its members for ones lost with a dead member. A socket
	// that joins again gets the roster afresh.
	f.members = nil
	if f.lingers > 0 {
		// Nothing to list (the channel has no socket here), but the leaves are remembered.
		f.n.Fanouts.SetIdle(f.key, ctx.Self(), true)
		return
	}
	if f.n.Fanouts.ReleaseIfIdle(f.key, ctx.Self()) {
		ctx.Stop(ctx.Self())
	}
}

// recentRemovals are the members the grain removed lately, by when (the grain's clock, Unix
// nanos): a grain that died before its replica heard of a removal leaves its member_removed
// webhook to the next activation, which learns of it here.
type recentRemovals struct {
	byUser  map[string]int64
	pruneAt int // the size at which old entries are dropped next
}

// add records that the grain removed userID at removed; entries older than keep before it go,
// in passes spaced so that each costs O(1) per add.
func (r *recentRemovals) add(userID string, removed int64, keep time.Duration) {
	if removed == 0 {
		return
	}
	if r.byUser == nil {
		r.byUser = map[string]int64{}
	}
	r.byUser[userID] = removed
	if len(r.byUser) >= r.pruneAt {
		for id, at := range r.byUser {
			if at < removed-int64(keep) {
				delete(r.byUser, id)
			}
		}
		r.pruneAt = 2*len(r.byUser) + 16
	}
}

// forget drops userID: it is a member again.
func (r *recentRemovals) forget(userID string) { delete(r.byUser, userID) }
