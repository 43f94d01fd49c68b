package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/telemetry"
)

// Errors of Engine calls, for the transport to map to Pusher codes and HTTP statuses.
var (
	ErrOverQuota    = errors.New("over the app's connection quota")
	ErrUnavailable  = errors.New("channel state unavailable")
	ErrShuttingDown = errors.New("shutting down")
)

// Options configure an Engine.
type Options struct {
	Apps   []*App
	Logger *slog.Logger
	// AskTimeout bounds a request to a channel grain (channel info for the HTTP API).
	AskTimeout time.Duration
	// SubscriptionCountInterval coalesces subscription_count updates (default 1 s).
	SubscriptionCountInterval time.Duration
	// Cluster makes this engine a member of a proto.actor cluster; nil serves one node alone.
	Cluster *ClusterOptions
	// Webhooks configure how webhooks are delivered.
	Webhooks WebhookOptions
	// Telemetry traces and measures; nil does neither.
	Telemetry *telemetry.Telemetry
	// NodeName names this node in traces (default: its actor system address).
	NodeName string
	// WebhookDelay is how long channel_vacated and member_removed wait to see whether the
	// channel or member is back (Pusher: 3 s).
	WebhookDelay time.Duration
}

// Engine is the actor system of one node and the API the transport uses.
type Engine struct {
	system      *actor.ActorSystem
	cluster     *cluster.Cluster // nil on a single node
	apps        *appRegistry
	log         *slog.Logger
	tel         *telemetry.Telemetry
	nodeName    string
	grains      grainLocator
	fanouts     *localRegistry // node fan-out actors of this node, by channel key
	localGrains localGrainSet  // cluster grains active on this node
	node        *actor.PID     // this node's node actor
	remote      remoteConnections
	ask         time.Duration
	stopped     chan struct{}

	subscriptionCountInterval time.Duration
	rebuildTimeout            time.Duration
	webhookDelay              time.Duration

	socketPrefix string // this node's part of every socket id
	socketSeq    atomic.Uint64
}

// NewEngine starts the actor system of one node, and joins the cluster when configured.
func NewEngine(opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AskTimeout <= 0 {
		opts.AskTimeout = 5 * time.Second
	}
	if opts.SubscriptionCountInterval <= 0 {
		opts.SubscriptionCountInterval = time.Second
	}
	if opts.WebhookDelay <= 0 {
		opts.WebhookDelay = 3 * time.Second
	}
	if opts.Webhooks.Logger == nil {
		opts.Webhooks.Logger = opts.Logger
	}
	opts.Webhooks.Telemetry = opts.Telemetry
	logger := opts.Logger
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logger.With("component", "protoactor")
	}))
	e := &Engine{
		system:       system,
		apps:         newAppRegistry(opts.Apps),
		log:          logger,
		tel:          opts.Telemetry,
		ask:          opts.AskTimeout,
		stopped:      make(chan struct{}),
		socketPrefix: strconv.FormatUint(uint64(rand.Uint32()), 10),

		subscriptionCountInterval: opts.SubscriptionCountInterval,
		webhookDelay:              opts.WebhookDelay,
	}
	for _, app := range opts.Apps {
		app.Metrics = opts.Telemetry.Metrics().App(app.ID)
		app.webhooks = spawnWebhooks(system.Root, app, opts.Webhooks)
	}
	e.fanouts = newLocalRegistry(system.Root, func(key string) *actor.Props {
		return actor.PropsFromProducer(func() actor.Actor { return newNodeFanout(e, key) })
	})
	local := &localGrains{}
	local.channels = newLocalRegistry(system.Root, func(key string) *actor.Props {
		appID, name := splitChannelKey(key)
		return actor.PropsFromProducer(func() actor.Actor { return newChannelGrain(e, e.apps.byID[appID], name) })
	})
	local.users = newLocalRegistry(system.Root, func(key string) *actor.Props {
		appID, userID := splitChannelKey(key)
		return actor.PropsFromProducer(func() actor.Actor { return newUserGrain(e, appID, userID) })
	})
	e.grains = local
	// The node actor first: as soon as this member joins, re-activated grains ask it for state.
	node, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &nodeActor{engine: e} }), nodeActorName)
	if err != nil {
		return nil, fmt.Errorf("node actor: %w", err)
	}
	e.node = node
	if opts.Cluster != nil {
		if err := e.startCluster(*opts.Cluster); err != nil {
			return nil, err
		}
	}
	e.nodeName = opts.NodeName
	if e.nodeName == "" {
		e.nodeName = system.Address()
	}
	return e, nil
}

// AppByKey finds an app by its public key.
func (e *Engine) AppByKey(key string) (*App, bool) { a, ok := e.apps.byKey[key]; return a, ok }

// AppByID finds an app by its id.
func (e *Engine) AppByID(id string) (*App, bool) { a, ok := e.apps.byID[id]; return a, ok }

// Connection is the transport's handle on a connection actor.
type Connection struct {
	pid      *actor.PID
	socketID string
	root     *actor.RootContext
}

// SocketID is the socket's Pusher socket id.
func (c *Connection) SocketID() string { return c.socketID }

// Tell sends one of the Client* messages or SocketClosed to the connection actor.
func (c *Connection) Tell(msg any) { c.root.Send(c.pid, msg) }

// Connect admits a socket for app and starts its connection actor. It fails with ErrOverQuota
// when the app has its maximum of connections.
func (e *Engine) Connect(app *App, sink Sink) (*Connection, error) {
	n := app.connections.Add(1)
	if limit := app.Limits.MaxConnections; limit > 0 && n+e.remote.get(app.ID) > int64(limit) {
		app.connections.Add(-1)
		return nil, ErrOverQuota
	}
	socketID := e.socketPrefix + "." + strconv.FormatUint(e.socketSeq.Add(1), 10)
	c := &connection{engine: e, app: app, socketID: socketID, sink: sink, subscriptions: map[string]*subscription{}}
	pid := e.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return c }))
	return &Connection{pid: pid, socketID: socketID, root: e.system.Root}, nil
}

// Event is one event the HTTP API publishes.
type Event struct {
	Channel         string
	Name            string
	Data            string
	ExcludeSocketID string
	Accepted        time.Time
	Trace           map[string]string
}

// Publish hands an event to its channel's grain and returns once the grain has taken it
// (delivery to the sockets goes on asynchronously). A grain that was stopping or moving to
// another member answers with a dead letter: the event is sent again, to the grain now in
// charge, for up to about three seconds. Waiting for the grain also keeps a caller that
// triggers faster than herald can take events from queueing them without bound.
func (e *Engine) Publish(ctx context.Context, app *App, ev Event) error {
	app.Metrics.AddMessagesIn(telemetry.KindAPIEvent, 1)
	msg := &messages.Publish{
		AppId: app.ID, Channel: ev.Channel, Event: ev.Name, Data: []byte(ev.Data),
		ExcludeSocketId: ev.ExcludeSocketID, AcceptedUnixNano: ev.Accepted.UnixNano(), Trace: ev.Trace,
	}
	_, err := e.askChannelGrain(ctx, app.ID, ev.Channel, msg)
	return err
}

// askChannelGrain sends msg to a channel's grain as a request and returns its answer. A grain
// that was stopping or moving answers with a dead letter (proto.actor reports it either as a
// DeadLetterResponse or as a future error): the request is sent again, to the grain now in
// charge, with back-off, for about three seconds.
func (e *Engine) askChannelGrain(ctx context.Context, appID, channel string, msg any) (any, error) {
	backoff := 25 * time.Millisecond
	for attempt := 0; ; attempt++ {
		res, err := e.system.Root.RequestFuture(e.grains.channelPID(appID, channel), msg, e.askTimeout(ctx)).Result()
		if err != nil && !errors.Is(err, actor.ErrDeadLetter) {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if _, dead := res.(*actor.DeadLetterResponse); !dead && err == nil {
			return res, nil
		}
		e.grains.forget(channelKind, channelKey(appID, channel))
		if attempt == 7 { // 25 ms doubling: about 3 s in all
			return nil, fmt.Errorf("%w: the channel's grain did not answer", ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// ChannelInfo asks the channel's grain for its counts (and members, withUsers).
func (e *Engine) ChannelInfo(ctx context.Context, app *App, channel string, withUsers bool) (*messages.ChannelInfo, error) {
	res, err := e.askChannelGrain(ctx, app.ID, channel, &messages.ChannelInfoRequest{AppId: app.ID, Channel: channel, WithUsers: withUsers})
	if err != nil {
		return nil, err
	}
	info, ok := res.(*messages.ChannelInfo)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected %T", ErrUnavailable, res)
	}
	return info, nil
}

// leaveHandOver is how long a leaving member keeps its grains after announcing that it
// leaves: a gossip round (300 ms) and a provider refresh (1 s) for the others to re-route.
const leaveHandOver = 1500 * time.Millisecond

// Shutdown leaves the cluster (its grains move to the other members) and stops the actor system.
func (e *Engine) Shutdown() {
	select {
	case <-e.stopped:
		return
	default:
		close(e.stopped)
	}
	for _, a := range e.apps.byID {
		a.webhooks.stop()
	}
	if e.cluster != nil {
		// Say we are leaving before our grains stop: the others block this member on the
		// next gossip round and re-route to new activations, instead of sending events to
		// grains that are gone (proto.actor's Shutdown stops the grains first).
		e.cluster.Gossip.SetState(cluster.GracefullyLeftKey, &emptypb.Empty{})
		time.Sleep(leaveHandOver)
		e.cluster.Shutdown(true)
		return
	}
	e.system.Shutdown()
}

// userPID is the grain of a signed-in user of an app.
func (e *Engine) userPID(appID, userID string) *actor.PID { return e.grains.userPID(appID, userID) }

// PublishToUser sends an event to every socket signed in as userID (#server-to-user-{id}).
func (e *Engine) PublishToUser(app *App, userID string, ev Event) {
	e.system.Root.Send(e.userPID(app.ID, userID), &messages.UserPublish{
		AppId: app.ID, UserId: userID, Event: ev.Name, Data: ev.Data,
		AcceptedUnixNano: ev.Accepted.UnixNano(), Trace: ev.Trace,
	})
}

// TerminateUser closes every socket signed in as userID.
func (e *Engine) TerminateUser(app *App, userID string) {
	e.system.Root.Send(e.userPID(app.ID, userID), &messages.TerminateUser{AppId: app.ID, UserId: userID})
}

// FlushWebhooks sends what the webhook dispatchers hold until ctx ends, then stops them.
func (e *Engine) FlushWebhooks(ctx context.Context) error {
	all := make([]*webhooks, 0, len(e.apps.byID))
	for _, a := range e.apps.byID {
		all = append(all, a.webhooks)
	}
	return flushAndStopWebhooks(ctx, all)
}

// WebhookStats are the counters of app's webhooks on this node.
func (e *Engine) WebhookStats(app *App) WebhookStats { return app.webhooks.Stats() }
