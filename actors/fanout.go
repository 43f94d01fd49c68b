package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// join asks a node fan-out actor to add a local socket to its channel. The connection actor
// sends it as a request, so a join that reaches a stopped fan-out comes back as a dead letter.
type join struct {
	socketID string
	sink     Sink
	conn     *actor.PID
	userID   string
	userInfo []byte
	trace    map[string]string
}

// leave removes a local socket from a channel.
type leave struct{ socketID string }

// subscribeRejected tells the connection actor the grain refused its subscription.
type subscribeRejected struct{ channel string }

// nodeFanout holds the local subscribers of one channel on this node and writes to them every
// frame the channel grain delivers. It forwards joins and leaves to the grain; because the
// grain's answer and its deliveries come back in the order the grain produced them, a socket
// receives subscription_succeeded before any event published after it was counted.
type nodeFanout struct {
	engine  *Engine
	appID   string
	channel string
	kind    string // channel kind, the label of the subscriptions metric
	key     string
	metrics *telemetry.AppMetrics

	sinks   []localSocket  // subscribed sockets, iterated on every delivery
	index   map[string]int // socket id -> position in sinks
	pending map[string]*join
	members map[string]bool // presence: mirror of the grain's roster, nil until known
}

type localSocket struct {
	id   string
	sink Sink
	join *join // how it joined: its user, for a grain that rebuilds
}

func newNodeFanout(e *Engine, key string) *nodeFanout {
	appID, channel := splitChannelKey(key)
	ch, _ := protocol.ParseChannel(channel, len(channel))
	f := &nodeFanout{
		engine: e, appID: appID, channel: channel, kind: ch.Kind.String(), key: key,
		index: map[string]int{}, pending: map[string]*join{},
	}
	if app, ok := e.apps.byID[appID]; ok {
		f.metrics = app.Metrics
	}
	return f
}

func (f *nodeFanout) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.Deliver:
		f.write(m)
		if f.members != nil {
			if m.MemberAdded != "" {
				f.members[m.MemberAdded] = true
			}
			if m.MemberRemoved != "" {
				delete(f.members, m.MemberRemoved)
			}
		}
	case *messages.NodeStateRequest:
		ctx.Respond(f.state(ctx))
	case *messages.TopologyChanged:
		// A subscribe sent to a grain on a member that died is never answered: ask again.
		for _, j := range f.pending {
			f.requestSubscribe(ctx, j)
		}
		// The grain may have moved or died with its member: wake the one now in charge, so it
		// rebuilds (and announces members lost with the dead member) without waiting for the
		// next event. Its answer is ignored.
		if len(f.sinks) > 0 {
			ctx.Request(f.engine.grains.channelPID(f.appID, f.channel), &messages.ChannelInfoRequest{AppId: f.appID, Channel: f.channel})
		}
	case *messages.ChannelInfo:
		// the answer to the wake-up above
	case *join:
		f.join(ctx, m)
	case *messages.SubscribeResult:
		f.subscribed(ctx, m)
	case *leave:
		f.leave(ctx, m.socketID)
	case *actor.DeadLetterResponse:
		// The grain stopped before it saw our subscribe: ask the one now in charge.
		for _, j := range f.pending {
			f.requestSubscribe(ctx, j)
		}
	}
}

func (f *nodeFanout) write(d *messages.Deliver) {
	var span trace.Span
	if d.Trace != nil {
		_, span = f.engine.tel.StartFanoutSpan(telemetry.Extract(d.Trace), f.appID, f.channel, f.engine.nodeName)
	}
	n := 0
	for i := range f.sinks {
		if s := &f.sinks[i]; s.id != d.ExcludeSocketId {
			s.sink.Send(d.Frame)
			n++
		}
	}
	if span != nil {
		telemetry.EndFanoutSpan(span, n, n*len(d.Frame))
	}
	// Per delivery, not per socket: the metric calls cost more than a queued write.
	f.metrics.AddMessagesOut(telemetry.MessageKind(d.Kind), n)
	f.metrics.AddBytesOut(n * len(d.Frame))
	if d.AcceptedUnixNano != 0 {
		f.metrics.RecordDeliverySince(d.AcceptedUnixNano)
	}
}

func (f *nodeFanout) join(ctx actor.Context, j *join) {
	f.engine.fanouts.done(f.key)
	if _, ok := f.index[j.socketID]; ok {
		return
	}
	f.pending[j.socketID] = j
	f.requestSubscribe(ctx, j)
}

func (f *nodeFanout) requestSubscribe(ctx actor.Context, j *join) {
	ctx.Request(f.engine.grains.channelPID(f.appID, f.channel), &messages.Subscribe{
		AppId: f.appID, Channel: f.channel, SocketId: j.socketID, Node: ctx.Self(),
		UserId: j.userID, UserInfo: j.userInfo, Trace: j.trace,
		WantMemberIds: j.userID != "" && f.members == nil,
	})
}

// state is this node's part of the channel, for a grain that rebuilds itself.
func (f *nodeFanout) state(ctx actor.Context) *messages.NodeState {
	st := &messages.NodeState{Fanout: ctx.Self(), Sockets: make([]*messages.SocketState, len(f.sinks))}
	for i, s := range f.sinks {
		st.Sockets[i] = &messages.SocketState{SocketId: s.id, UserId: s.join.userID, UserInfo: s.join.userInfo}
	}
	for id := range f.members {
		st.KnownMembers = append(st.KnownMembers, id)
	}
	return st
}

func (f *nodeFanout) subscribed(ctx actor.Context, r *messages.SubscribeResult) {
	j, ok := f.pending[r.SocketId]
	if !ok {
		return // left before the grain answered; its unsubscribe is on the way
	}
	delete(f.pending, r.SocketId)
	if !r.Ok {
		j.sink.Send(protocol.SubscriptionErrorFrame(f.channel, r.ErrorType, r.Error, int(r.Status)))
		ctx.Send(j.conn, &subscribeRejected{channel: f.channel})
		f.stopIfEmpty(ctx)
		return
	}
	j.sink.Send(r.Frame)
	if r.MemberIds != nil && f.members == nil {
		f.members = make(map[string]bool, len(r.MemberIds))
		for _, id := range r.MemberIds {
			f.members[id] = true
		}
	}
	if r.CachedFrame != nil {
		j.sink.Send(r.CachedFrame)
	} else if r.CacheMiss {
		j.sink.Send(protocol.AppendEvent(nil, protocol.EventCacheMiss, f.channel, "{}", ""))
	}
	f.metrics.AddSubscriptions(f.kind, 1)
	f.index[j.socketID] = len(f.sinks)
	f.sinks = append(f.sinks, localSocket{id: j.socketID, sink: j.sink, join: j})
}

func (f *nodeFanout) leave(ctx actor.Context, socketID string) {
	_, wasPending := f.pending[socketID]
	i, wasSubscribed := f.index[socketID]
	if !wasPending && !wasSubscribed {
		return
	}
	delete(f.pending, socketID)
	if wasSubscribed {
		f.metrics.AddSubscriptions(f.kind, -1)
		last := len(f.sinks) - 1
		f.sinks[i] = f.sinks[last]
		f.index[f.sinks[i].id] = i
		f.sinks[last] = localSocket{}
		f.sinks = f.sinks[:last]
		delete(f.index, socketID)
	}
	ctx.Send(f.engine.grains.channelPID(f.appID, f.channel), &messages.Unsubscribe{
		AppId: f.appID, Channel: f.channel, SocketId: socketID, Node: ctx.Self(),
	})
	f.stopIfEmpty(ctx)
}

func (f *nodeFanout) stopIfEmpty(ctx actor.Context) {
	if len(f.sinks) == 0 && len(f.pending) == 0 && f.engine.fanouts.releaseIfIdle(f.key, ctx.Self()) {
		ctx.Stop(ctx.Self())
	}
}
