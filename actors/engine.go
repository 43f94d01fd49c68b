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

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/protocol"
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
}

// Engine is the actor system of one node and the API the transport uses.
type Engine struct {
	system  *actor.ActorSystem
	apps    *appRegistry
	log     *slog.Logger
	grains  grainLocator
	fanouts *localRegistry
	users   *localRegistry
	ask     time.Duration

	subscriptionCountInterval time.Duration

	socketPrefix string // this node's part of every socket id
	socketSeq    atomic.Uint64
}

// NewEngine starts the actor system of one node.
func NewEngine(opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AskTimeout <= 0 {
		opts.AskTimeout = 5 * time.Second
	}
	if opts.SubscriptionCountInterval <= 0 {
		opts.SubscriptionCountInterval = time.Second
	}
	logger := opts.Logger
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logger.With("component", "protoactor")
	}))
	e := &Engine{
		system: system,
		apps:   newAppRegistry(opts.Apps),
		log:    logger,
		ask:    opts.AskTimeout,

		subscriptionCountInterval: opts.SubscriptionCountInterval,
		socketPrefix:              strconv.FormatUint(uint64(rand.Uint32()), 10),
	}
	e.fanouts = newLocalRegistry(system.Root, func(key string) *actor.Props {
		return actor.PropsFromProducer(func() actor.Actor { return newNodeFanout(e, key) })
	})
	grains := &localGrains{}
	grains.reg = newLocalRegistry(system.Root, func(key string) *actor.Props {
		appID, name := splitChannelKey(key)
		return actor.PropsFromProducer(func() actor.Actor {
			app := e.apps.byID[appID]
			ch, _ := protocol.ParseChannel(name, len(name))
			return newChannelGrain(e, app, ch, grains)
		})
	})
	e.grains = grains
	e.users = newLocalRegistry(system.Root, func(key string) *actor.Props {
		appID, userID := splitChannelKey(key)
		return actor.PropsFromProducer(func() actor.Actor {
			return &userGrain{
				engine: e, appID: appID, userID: userID,
				release:  func(pid *actor.PID) { e.users.release(key, pid) },
				sockets:  map[string]*actor.PID{},
				watchers: map[string]*actor.PID{},
			}
		})
	})
	return e
}

// userPID is the grain of a signed-in user of an app.
func (e *Engine) userPID(appID, userID string) *actor.PID {
	return e.users.get(channelKey(appID, userID))
}

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
	if limit := app.Limits.MaxConnections; limit > 0 && n > int64(limit) {
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

// Publish sends an event to its channel's grain. It returns once the event is handed over;
// delivery is asynchronous.
func (e *Engine) Publish(app *App, ev Event) {
	e.system.Root.Send(e.grains.channelPID(app.ID, ev.Channel), &messages.Publish{
		AppId: app.ID, Channel: ev.Channel, Event: ev.Name, Data: []byte(ev.Data),
		ExcludeSocketId: ev.ExcludeSocketID, AcceptedUnixNano: ev.Accepted.UnixNano(), Trace: ev.Trace,
	})
}

// ChannelInfo asks the channel's grain for its counts (and members, withUsers).
func (e *Engine) ChannelInfo(ctx context.Context, app *App, channel string, withUsers bool) (*messages.ChannelInfo, error) {
	req := &messages.ChannelInfoRequest{AppId: app.ID, Channel: channel, WithUsers: withUsers}
	for attempt := 0; attempt < 3; attempt++ {
		timeout := e.ask
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
			timeout = time.Until(dl)
		}
		res, err := e.system.Root.RequestFuture(e.grains.channelPID(app.ID, channel), req, timeout).Result()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		switch r := res.(type) {
		case *messages.ChannelInfo:
			return r, nil
		case *actor.DeadLetterResponse:
			continue // the grain was stopping: the next lookup activates a new one
		default:
			return nil, fmt.Errorf("%w: unexpected %T", ErrUnavailable, res)
		}
	}
	return nil, ErrUnavailable
}

// OccupiedChannels lists the app's channels with subscribers on this node.
func (e *Engine) OccupiedChannels(app *App) []string {
	keys := e.fanouts.keys(channelKey(app.ID, ""))
	out := make([]string, len(keys))
	for i, k := range keys {
		_, out[i] = splitChannelKey(k)
	}
	return out
}

// Shutdown stops the actor system.
func (e *Engine) Shutdown() { e.system.Shutdown() }
