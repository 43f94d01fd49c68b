package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// eventBody is one event as the HTTP API takes it (POST /events, and each of a batch).
type eventBody struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channel  string          `json:"channel"`
	Channels []string        `json:"channels"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

// trigger is an event that passed every check: the event itself, ready for the actors, and
// where it goes.
type trigger struct {
	event    actors.Event // Channel is set per channel at publish
	channels []protocol.Channel
	users    []string // #server-to-user-{id} targets
	info     infoFields
}

// deliveries is the number of channel and user messages the trigger makes, for the rate limit.
func (t trigger) deliveries() int { return len(t.channels) + len(t.users) }

// validateEvent checks an HTTP API event: the event rules of protocol (the same as client
// events'), then what only the HTTP API has (channel lists, socket_id, info).
func (s *Server) validateEvent(app *actors.App, ev eventBody) (trigger, *apiError) {
	l := app.Settings().Limits
	text, err := protocol.EventText(ev.Data)
	if err != nil {
		return trigger{}, errorf(http.StatusBadRequest, "data: %v", err)
	}
	if err := l.ValidateEvent(ev.Name, len(text)); err != nil {
		if errors.Is(err, protocol.ErrEventDataTooLarge) {
			return trigger{}, errorf(http.StatusRequestEntityTooLarge, "%v", err)
		}
		return trigger{}, errorf(http.StatusBadRequest, "%v", err)
	}
	names := ev.Channels
	if ev.Channel != "" {
		names = append(names, ev.Channel)
	}
	if len(names) == 0 {
		return trigger{}, errorf(http.StatusBadRequest, "channel or channels is required")
	}
	if len(names) > l.MaxChannelsPerEvent {
		return trigger{}, errorf(http.StatusBadRequest, "at most %d channels per event", l.MaxChannelsPerEvent)
	}
	out := trigger{event: actors.Event{Name: ev.Name, Data: text, ExcludeSocketID: ev.SocketID}}
	for _, name := range names {
		if userID, ok := protocol.ParseServerToUserChannel(name); ok {
			if len(userID) > l.MaxChannelNameLength {
				return trigger{}, errorf(http.StatusBadRequest, "user id in %q is too long", name)
			}
			out.users = append(out.users, userID)
			continue
		}
		ch, err := protocol.ParseChannel(name, l.MaxChannelNameLength)
		if err != nil {
			return trigger{}, errorf(http.StatusBadRequest, "channel %q: %v", name, err)
		}
		out.channels = append(out.channels, ch)
	}
	if ev.SocketID != "" && !protocol.ValidSocketID(ev.SocketID) {
		return trigger{}, errorf(http.StatusBadRequest, "invalid socket_id %q", ev.SocketID)
	}
	if len(out.users) > 0 && ev.Info != "" {
		return trigger{}, errorf(http.StatusBadRequest, "info is not available for %s channels", protocol.ServerToUserPrefix)
	}
	info, apiErr := parseInfo(ev.Info, out.channels)
	if apiErr != nil {
		return trigger{}, apiErr
	}
	out.info = info
	return out, nil
}

// publish hands the trigger to every channel's grain at once and waits until all took it.
func (s *Server) publish(ctx context.Context, app *actors.App, t trigger) *apiError {
	ev := t.event
	ev.Accepted = s.clock.Now()
	ev.Trace = telemetry.Inject(ctx) // the HTTP span: each publish span is its child
	errs := make(chan error, len(t.channels))
	for _, ch := range t.channels {
		go func(ev actors.Event) {
			errs <- s.engine.Publish(ctx, app, ev)
		}(withChannel(ev, ch.Name))
	}
	for _, user := range t.users {
		s.engine.PublishToUser(app, user, ev)
	}
	var failed error
	for range t.channels {
		if err := <-errs; err != nil {
			failed = err
		}
	}
	if failed != nil {
		return errorf(http.StatusServiceUnavailable, "event not accepted: %v", failed)
	}
	return nil
}

// publishBatch publishes a batch's events in the batch's order on each channel, and the
// channels at once: a batch takes about as long as its longest channel's events, not as all of
// them one after the other (each publish waits for its grain, in a cluster on another member).
// The first refusal is the answer; the events of other channels may have been taken.
func (s *Server) publishBatch(ctx context.Context, app *actors.App, triggers []trigger) *apiError {
	var order []string
	byTarget := map[string][]trigger{}
	for _, t := range triggers {
		target := t.target()
		if _, seen := byTarget[target]; !seen {
			order = append(order, target)
		}
		byTarget[target] = append(byTarget[target], t)
	}
	errs := make(chan *apiError, len(order))
	for _, target := range order {
		go func(ts []trigger) {
			for _, t := range ts {
				if apiErr := s.publish(ctx, app, t); apiErr != nil {
					errs <- apiErr
					return
				}
			}
			errs <- nil
		}(byTarget[target])
	}
	var failed *apiError
	for range order {
		if apiErr := <-errs; apiErr != nil && failed == nil {
			failed = apiErr
		}
	}
	return failed
}

// target is the one channel a batch event goes to (a #server-to-user- one included), so that the
// events of one channel are published in order.
func (t trigger) target() string {
	if len(t.channels) > 0 {
		return t.channels[0].Name
	}
	return protocol.ServerToUserPrefix + t.users[0]
}

func withChannel(ev actors.Event, channel string) actors.Event {
	ev.Channel = channel
	return ev
}

// allowEvents applies the app's backend events per second to a trigger of n deliveries.
func (s *Server) allowEvents(app *actors.App, n int) *apiError {
	if !s.rates.of(app).allowEvents(s.clock.Now(), n) {
		return errorf(http.StatusTooManyRequests, "over the app's backend events per second")
	}
	return nil
}

func (s *Server) triggerEvents(ctx context.Context, r *apiRequest) (any, *apiError) {
	var body eventBody
	if err := json.Unmarshal(r.body, &body); err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	t, apiErr := s.validateEvent(r.app, body)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.allowEvents(r.app, t.deliveries()); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.awaitCapacity(ctx, t.deliveries()); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.publish(ctx, r.app, t); apiErr != nil {
		return nil, apiErr
	}
	if !t.info.any() {
		return struct{}{}, nil
	}
	channels := map[string]map[string]int64{}
	for _, ch := range t.channels {
		attrs, apiErr := s.channelAttributes(ctx, r.app, ch, t.info)
		if apiErr != nil {
			return nil, apiErr
		}
		channels[ch.Name] = attrs
	}
	return map[string]any{"channels": channels}, nil
}

func (s *Server) triggerBatch(ctx context.Context, r *apiRequest) (any, *apiError) {
	var body struct {
		Batch []eventBody `json:"batch"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	if len(body.Batch) == 0 {
		return nil, errorf(http.StatusBadRequest, "batch is empty")
	}
	if l := r.app.Settings().Limits.MaxBatchEvents; len(body.Batch) > l {
		return nil, errorf(http.StatusBadRequest, "at most %d events per batch", l)
	}
	triggers := make([]trigger, len(body.Batch))
	anyInfo := false
	total := 0
	for i, b := range body.Batch {
		if len(b.Channels) > 0 {
			return nil, errorf(http.StatusBadRequest, "batch[%d]: a batch event has one channel", i)
		}
		t, apiErr := s.validateEvent(r.app, b)
		if apiErr != nil {
			apiErr.message = fmt.Sprintf("batch[%d]: %s", i, apiErr.message)
			return nil, apiErr
		}
		triggers[i] = t
		anyInfo = anyInfo || t.info.any()
		total += t.deliveries()
	}
	if apiErr := s.allowEvents(r.app, total); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.awaitCapacity(ctx, total); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.publishBatch(ctx, r.app, triggers); apiErr != nil {
		return nil, apiErr
	}
	if !anyInfo {
		return struct{}{}, nil
	}
	results := make([]map[string]int64, len(triggers))
	for i, t := range triggers {
		results[i] = map[string]int64{}
		if t.info.any() {
			attrs, apiErr := s.channelAttributes(ctx, r.app, t.channels[0], t.info) // info implies a channel
			if apiErr != nil {
				return nil, apiErr
			}
			results[i] = attrs
		}
	}
	return map[string]any{"batch": results}, nil
}
