package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/actors/channel"
	"github.com/herald-io/herald/actors/cluster"
	"github.com/herald-io/herald/actors/console"
	"github.com/herald-io/herald/actors/fanout"
	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/actors/user"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
)

// Errors of Engine calls, for the transport to map to Pusher codes and HTTP statuses.
var (
	ErrOverQuota   = errors.New("over the app's connection quota")
	ErrUnavailable = errors.New("channel state unavailable")
)

// The types the transport handles, defined in the rooms of the actors.
type (
	// App is one app on this node: its settings and runtime state.
	App = node.App
	// Sink is a client socket as the actors see it; the transport implements it.
	Sink = node.Sink
	// ChannelInfo is a channel's counts (and members, when asked).
	ChannelInfo = messages.ChannelInfo
)

// Deps are what an Engine uses besides its config. Zero fields are left out: no logging, no
// telemetry, the real clock, no webhooks, the cluster provider the config names.
type Deps struct {
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
	Clock     clockwork.Clock
	// Webhooks takes the webhook events the grains produce (transport/webhooks delivers them).
	Webhooks node.WebhookSink
	// ClusterProvider replaces the provider cluster.provider names; tests use an in-memory one.
	ClusterProvider protocluster.ClusterProvider
	// Tap records for the debug console; nil makes one. Give the transport and the webhook
	// delivery the same one: they record into it too.
	Tap *node.Tap
}

// Engine is the actor system of one node, and the narrow API the transport uses: apps, connect,
// publish, channel queries, users. It builds the node's shared context (node.Node) and hands it
// to every actor; no actor reaches back into the Engine.
type Engine struct {
	system     *actor.ActorSystem
	n          *node.Node
	member     *cluster.Member // nil on a single node
	nodeActor  *actor.PID
	console    *actor.PID
	remote     *cluster.RemoteConnections
	ask        time.Duration
	stopGossip context.CancelFunc
	stopped    atomic.Bool
	logLevels  *protoActorLevels

	socketPrefix string // this node's part of every socket id
	socketSeq    atomic.Uint64
	publishSeq   atomic.Uint64
}

// New starts the actor system of one node, and joins the cluster when the config says so.
func New(cfg *configs.Config, deps Deps) (*Engine, error) {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	if deps.Webhooks == nil {
		deps.Webhooks = node.NoWebhooks{}
	}
	if deps.Tap == nil {
		deps.Tap = node.NewTap()
	}
	logLevels := &protoActorLevels{}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return protoActorLogger(logger, logLevels)
	}))
	n := &node.Node{
		Name:        cfg.Telemetry.NodeName,
		Root:        system.Root,
		Clock:       deps.Clock,
		Log:         logger,
		Tel:         deps.Telemetry,
		Apps:        node.NewApps(cfg.Apps, deps.Telemetry.Metrics()),
		LocalGrains: &node.Activations{},
		Webhooks:    deps.Webhooks,
		Tap:         deps.Tap,
		Members:     func() []string { return []string{system.Address()} },
		Owns:        func(string, string) bool { return true },
		Backup:      func(string, string) string { return "" },
		Timing:      node.Timing{WebhookDelay: cfg.Webhooks.Delay, RebuildTimeout: cfg.Cluster.RebuildTimeout, RequestTimeout: cfg.RequestTimeout},
		// proto.actor's default throughput. Parked workers: 64 per core. With 4 per core, a burst
		// of joins started goroutines that grew their stacks anew and then exited (newstack and
		// copystack were 13-15 % of a node's CPU in the rooms join phase; 3 % with 64). A parked
		// worker keeps its grown stack (8-16 KB), so an idle node holds at most about 1-2 MB.
		Mailboxes: node.NewMailboxes(300, 64*runtime.GOMAXPROCS(0)),
	}
	e := &Engine{
		system: system, n: n, ask: cfg.RequestTimeout, stopGossip: func() {}, logLevels: logLevels,
		socketPrefix: strconv.FormatUint(uint64(rand.Uint32()), 10),
	}
	n.Fanouts = node.NewRegistry(system.Root, func(key string) *actor.Props { return fanout.Props(n, key) })
	n.Grains = cluster.NewLocalGrains(
		node.NewRegistry(system.Root, func(key string) *actor.Props {
			appID, name := node.SplitKey(key)
			app, _ := n.Apps.ByID(appID)
			return channel.Props(n, app, name)
		}),
		node.NewRegistry(system.Root, func(key string) *actor.Props {
			appID, userID := node.SplitKey(key)
			return user.Props(n, appID, userID)
		}),
	)
	nodeActor, err := cluster.SpawnNodeActor(n)
	if err != nil {
		return nil, fmt.Errorf("node actor: %w", err)
	}
	e.nodeActor = nodeActor
	if e.console, err = console.Spawn(n); err != nil {
		return nil, fmt.Errorf("console actor: %w", err)
	}
	if cfg.Cluster.Enabled {
		if err := e.joinCluster(cfg.Cluster, deps.ClusterProvider); err != nil {
			return nil, err
		}
	}
	if n.Name == "" {
		n.Name = system.Address()
	}
	return e, nil
}

func (e *Engine) joinCluster(cfg configs.Cluster, provider protocluster.ClusterProvider) error {
	n := e.n
	member, err := cluster.NewMember(e.system, cfg, provider,
		protocluster.NewKind(node.ChannelKind, channel.ClusterProps(n)),
		protocluster.NewKind(node.UserKind, user.ClusterProps(n)))
	if err != nil {
		return err
	}
	// Before the member starts: a grain activated here as soon as it joins must find grains
	// and members through the cluster, not as a single node.
	e.member = member
	n.Grains = member.Locator()
	n.Members = member.Addresses
	n.Owns = member.Owns
	n.Backup = member.Backup
	e.system.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*protocluster.ClusterTopology); ok {
			e.system.Root.Send(e.nodeActor, t)
			e.system.Root.Send(e.console, t)
			e.logTopology(t)
		}
	})
	if err := member.Start(); err != nil {
		return err
	}
	e.remote = &cluster.RemoteConnections{}
	ctx, cancel := context.WithCancel(context.Background())
	e.stopGossip = cancel
	go member.GossipConnections(ctx, n.Apps, cfg.GossipInterval, e.remote)
	return nil
}

// AppByKey finds an app by its public key.
func (e *Engine) AppByKey(key string) (*App, bool) { return e.n.Apps.ByKey(key) }

// AppByID finds an app by its id.
func (e *Engine) AppByID(id string) (*App, bool) { return e.n.Apps.ByID(id) }

// UpdateApps replaces the node's apps (a reload, a change in the apps database): see
// node.Apps.Update. transport.Server.UpdateApps calls it, then closes the open sockets the new
// apps do not admit.
func (e *Engine) UpdateApps(apps []configs.App) { e.n.Apps.Update(apps) }

// ReportDelay gives the engine this node's queueing delay (the transport's writers), which a
// cluster member gossips to the others for their backpressure.
func (e *Engine) ReportDelay(delay func() time.Duration) {
	if e.remote != nil {
		e.remote.OwnDelay.Store(&delay)
	}
}

// FannedOut is how many events this node's fan-outs wrote to sockets' queues so far, and the
// bytes of those frames (node.FannedCount).
func (e *Engine) FannedOut() (events, bytes int64) {
	return e.n.Fanned.Events.Load(), e.n.Fanned.Bytes.Load()
}

// MembersDelay is the longest queueing delay another member reported (0 without a cluster).
func (e *Engine) MembersDelay() time.Duration { return e.remote.Delay() }

// Members is the number of cluster members (1 without a cluster).
func (e *Engine) Members() int { return len(e.n.Members()) }

// Shutdown leaves the cluster (its grains move to the other members) and stops the actor system.
func (e *Engine) Shutdown() {
	if e.stopped.Swap(true) {
		return
	}
	e.stopGossip()
	e.n.Mailboxes.Stop() // no more parking: mailboxes still run while the member hands over
	if e.member != nil {
		e.n.Leaving.Store(true)
		e.member.Leave()
		return
	}
	e.system.Shutdown()
}

// Kill stops the node as a crash would, without telling the other members: for tests of a
// member's death.
func (e *Engine) Kill() {
	if e.stopped.Swap(true) {
		return
	}
	e.stopGossip()
	e.n.Mailboxes.Stop()
	if e.member != nil {
		e.member.Kill()
		return
	}
	e.system.Shutdown()
}
