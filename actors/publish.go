package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/telemetry"
)

// Event is one event the HTTP API publishes, validated.
type Event struct {
	Channel         string // empty for PublishToUser
	Name            string
	Data            string // the text subscribers read (protocol.EventText)
	ExcludeSocketID string
	Accepted        time.Time
	Trace           map[string]string
}

// Publish hands an event to its channel's grain and returns once the grain has taken it
// (delivery to the sockets goes on asynchronously). Waiting for the grain also keeps a caller
// that triggers faster than herald can take events from queueing them without bound.
func (e *Engine) Publish(ctx context.Context, app *App, ev Event) error {
	app.Metrics.AddMessagesIn(telemetry.KindAPIEvent, 1)
	_, err := e.askChannelGrain(ctx, app.ID, ev.Channel, &messages.Publish{
		AppId: app.ID, Channel: ev.Channel, Event: ev.Name, Data: []byte(ev.Data),
		ExcludeSocketId: ev.ExcludeSocketID, AcceptedUnixNano: ev.Accepted.UnixNano(), Trace: ev.Trace,
	})
	return err
}

// retryBackoff is the first wait before a request to a grain that answered with a dead letter is
// sent again; it doubles up to retryAttempts, about three seconds in all. It runs on the real
// clock: it waits for the actor system, not for a protocol timer.
const (
	retryBackoff  = 25 * time.Millisecond
	retryAttempts = 8
)

// askChannelGrain sends msg to a channel's grain as a request and returns its answer. A grain
// that was stopping or moving answers with a dead letter (proto.actor reports it either as a
// DeadLetterResponse or as a future error): the request is sent again, to the grain now in
// charge, with back-off.
func (e *Engine) askChannelGrain(ctx context.Context, appID, channel string, msg any) (any, error) {
	backoff := retryBackoff
	for attempt := 1; ; attempt++ {
		res, err := e.system.Root.RequestFuture(e.n.Grains.ChannelPID(appID, channel), msg, e.askTimeout(ctx)).Result()
		if err != nil && !errors.Is(err, actor.ErrDeadLetter) {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if _, dead := res.(*actor.DeadLetterResponse); !dead && err == nil {
			return res, nil
		}
		e.n.Grains.Forget(node.ChannelKind, node.Key(appID, channel))
		if attempt == retryAttempts {
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

func (e *Engine) askTimeout(ctx context.Context) time.Duration {
	timeout := e.ask
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	return timeout
}

// PublishToUser sends an event to every socket signed in as userID (#server-to-user-{id}).
func (e *Engine) PublishToUser(app *App, userID string, ev Event) {
	e.system.Root.Send(e.n.Grains.UserPID(app.ID, userID), &messages.UserPublish{
		AppId: app.ID, UserId: userID, Event: ev.Name, Data: ev.Data,
		AcceptedUnixNano: ev.Accepted.UnixNano(), Trace: ev.Trace,
	})
}

// TerminateUser closes every socket signed in as userID.
func (e *Engine) TerminateUser(app *App, userID string) {
	e.system.Root.Send(e.n.Grains.UserPID(app.ID, userID), &messages.TerminateUser{AppId: app.ID, UserId: userID})
}
