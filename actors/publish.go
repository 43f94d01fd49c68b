package actors

import (
	"strconv"

	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/cluster"
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
		PublishId: e.socketPrefix + ":" + strconv.FormatUint(e.publishSeq.Add(1), 10),
	})
	return err
}

// A request to a grain is sent again when the grain answers with a dead letter (it was stopping
// or moving: proto.actor reports it as a DeadLetterResponse or as a future error) or does not
// answer within attemptTimeout (proto.actor drops, without a word, the requests still in the
// mailbox of a grain it stops when the topology moves it). Every request sent so is idempotent:
// a publish carries its publish_id, which the grain takes once. The waits between attempts
// double from retryBackoff; all of it stays within the caller's deadline and request_timeout.
// They run on the real clock: they wait for the actor system, not for a protocol timer.
const (
	attemptTimeout = time.Second
	retryBackoff   = 25 * time.Millisecond
	maxBackoff     = 400 * time.Millisecond
)

// askChannelGrain sends msg to a channel's grain as a request and returns its answer, sending it
// again to the grain now in charge after a dead letter or an attempt's timeout.
func (e *Engine) askChannelGrain(ctx context.Context, appID, channel string, msg any) (any, error) {
	deadline := time.Now().Add(e.askTimeout(ctx))
	backoff := retryBackoff
	for {
		wait := min(attemptTimeout, time.Until(deadline))
		if wait <= 0 {
			return nil, fmt.Errorf("%w: the channel's grain did not answer in time", ErrUnavailable)
		}
		pid := e.n.Grains.ChannelPID(appID, channel)
		res, err := e.attempt(pid, msg, wait)
		if err != nil && !errors.Is(err, actor.ErrDeadLetter) && !errors.Is(err, actor.ErrTimeout) && !errors.Is(err, cluster.ErrMemberGone) {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if _, dead := res.(*actor.DeadLetterResponse); !dead && err == nil {
			return res, nil
		}
		e.n.Grains.Forget(node.ChannelKind, node.Key(appID, channel))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// attempt is one request to a grain on pid; in a cluster it ends early when the membership
// reports pid's member gone.
func (e *Engine) attempt(pid *actor.PID, msg any, wait time.Duration) (any, error) {
	if e.member == nil {
		return e.system.Root.RequestFuture(pid, msg, wait).Result()
	}
	return e.member.Request(pid, msg, wait)
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
