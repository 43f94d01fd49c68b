package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// apiError is an HTTP API failure: a real status and a JSON {"error": message} body.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, message: fmt.Sprintf(format, args...)}
}

func (s *Server) routeAPI(mux *http.ServeMux) {
	routes := []struct {
		pattern string
		handler func(context.Context, *apiRequest) (any, *apiError)
	}{
		{"POST /apps/{app}/events", s.triggerEvents},
		{"POST /apps/{app}/batch_events", s.triggerBatch},
		{"GET /apps/{app}/channels", s.listChannels},
		{"GET /apps/{app}/channels/{channel}", s.channelInfo},
		{"GET /apps/{app}/channels/{channel}/users", s.channelUsers},
		{"POST /apps/{app}/users/{user}/terminate_connections", s.terminateUser},
	}
	for _, r := range routes {
		// WrapHTTP: a server span continuing the caller's traceparent, and the request metrics.
		mux.Handle(r.pattern, s.opts.Telemetry.WrapHTTP("", s.api(r.handler)))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isWebSocketUpgrade(r) {
			s.serveWebSocket(w, r) // any other path: upgrade and close with 4005, as Pusher does
			return
		}
		if r.URL.Path == "/" {
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found: " + r.URL.Path})
	})
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// apiRequest is a request that passed the signature check.
type apiRequest struct {
	*http.Request
	app  *actors.App
	body []byte
}

// api wraps a handler with the checks every HTTP API call has: the app exists (404), the
// signature holds (401), the app is enabled (403), the body is within limits (413).
func (s *Server) api(h func(context.Context, *apiRequest) (any, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		app, ok := s.engine.AppByID(r.PathValue("app"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown app id " + r.PathValue("app")})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes(app)))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body too large"})
				return
			}
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "could not read body"})
			return
		}
		if err := s.verify(app, r, body); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		if !app.Enabled {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "app is disabled"})
			return
		}
		if r.Method == http.MethodGet && !s.limiter(app).allowRead(time.Now()) {
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "over the app's read requests per second"})
			return
		}
		res, apiErr := h(r.Context(), &apiRequest{Request: r, app: app, body: body})
		if apiErr != nil {
			writeJSON(w, apiErr.status, map[string]string{"error": apiErr.message})
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// verify checks the signature against the decoded path, and against the path as sent when a
// client signed it percent-encoded.
func (s *Server) verify(app *actors.App, r *http.Request, body []byte) error {
	q := r.URL.Query()
	now := s.opts.Now()
	err := protocol.VerifyHTTPRequest(app.Key, app.Secret, r.Method, r.URL.Path, q, body, now, protocol.HTTPTimestampWindow)
	if errors.Is(err, protocol.ErrAuthSignature) && r.URL.RawPath != "" {
		err = protocol.VerifyHTTPRequest(app.Key, app.Secret, r.Method, r.URL.EscapedPath(), q, body, now, protocol.HTTPTimestampWindow)
	}
	return err
}

// maxBodyBytes allows a full batch of maximal events, with room for names and channels.
func maxBodyBytes(app *actors.App) int64 {
	l := app.Limits
	perEvent := 2*l.MaxEventDataSize + l.MaxEventNameLength + l.MaxChannelsPerEvent*(l.MaxChannelNameLength+4) + 1024
	return int64(max(l.MaxBatchEvents, 1)*perEvent + 64*1024)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// eventBody is one event as the HTTP API takes it.
type eventBody struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channel  string          `json:"channel"`
	Channels []string        `json:"channels"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

// validEvent is an event that passed every check, ready to publish.
type validEvent struct {
	name, data, socketID string
	channels             []protocol.Channel
	users                []string // #server-to-user-{id} targets
	info                 infoFields
}

// deliveries is the number of channel and user messages the event makes, for the rate limit.
func (ev validEvent) deliveries() int { return len(ev.channels) + len(ev.users) }

func (s *Server) validateEvent(app *actors.App, ev eventBody) (validEvent, *apiError) {
	l := app.Limits
	if ev.Name == "" {
		return validEvent{}, errorf(http.StatusBadRequest, "event name is required")
	}
	if !protocol.ValidEventName(ev.Name, l.MaxEventNameLength) {
		return validEvent{}, errorf(http.StatusBadRequest, "event name is longer than %d characters", l.MaxEventNameLength)
	}
	names := ev.Channels
	if ev.Channel != "" {
		names = append(names, ev.Channel)
	}
	if len(names) == 0 {
		return validEvent{}, errorf(http.StatusBadRequest, "channel or channels is required")
	}
	if l.MaxChannelsPerEvent > 0 && len(names) > l.MaxChannelsPerEvent {
		return validEvent{}, errorf(http.StatusBadRequest, "at most %d channels per event", l.MaxChannelsPerEvent)
	}
	out := validEvent{name: ev.Name, socketID: ev.SocketID}
	for _, name := range names {
		if userID, ok := protocol.ParseServerToUserChannel(name); ok {
			if len(userID) > l.MaxChannelNameLength {
				return validEvent{}, errorf(http.StatusBadRequest, "user id in %q is too long", name)
			}
			out.users = append(out.users, userID)
			continue
		}
		ch, err := protocol.ParseChannel(name, l.MaxChannelNameLength)
		if err != nil {
			return validEvent{}, errorf(http.StatusBadRequest, "channel %q: %v", name, err)
		}
		out.channels = append(out.channels, ch)
	}
	data, err := eventData(ev.Data)
	if err != nil {
		return validEvent{}, errorf(http.StatusBadRequest, "data: %v", err)
	}
	if l.MaxEventDataSize > 0 && len(data) > l.MaxEventDataSize {
		return validEvent{}, errorf(http.StatusRequestEntityTooLarge, "event data is larger than %d bytes", l.MaxEventDataSize)
	}
	out.data = data
	if ev.SocketID != "" && !protocol.ValidSocketID(ev.SocketID) {
		return validEvent{}, errorf(http.StatusBadRequest, "invalid socket_id %q", ev.SocketID)
	}
	if len(out.users) > 0 && ev.Info != "" {
		return validEvent{}, errorf(http.StatusBadRequest, "info is not available for %s channels", protocol.ServerToUserPrefix)
	}
	info, apiErr := parseInfo(ev.Info, out.channels)
	if apiErr != nil {
		return validEvent{}, apiErr
	}
	out.info = info
	return out, nil
}

// eventData is the event's data as the string subscribers receive. The Pusher libraries send a
// string; a JSON object or other value is taken as its JSON text.
func eventData(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	return string(raw), nil
}

func (s *Server) publish(ctx context.Context, app *actors.App, ev validEvent) *apiError {
	accepted := time.Now()
	trace := telemetry.Inject(ctx) // the HTTP span: each publish span is its child
	errs := make(chan error, len(ev.channels))
	for _, ch := range ev.channels {
		go func(name string) {
			errs <- s.engine.Publish(ctx, app, actors.Event{
				Channel: name, Name: ev.name, Data: ev.data, ExcludeSocketID: ev.socketID, Accepted: accepted, Trace: trace,
			})
		}(ch.Name)
	}
	for _, user := range ev.users {
		s.engine.PublishToUser(app, user, actors.Event{Name: ev.name, Data: ev.data, Accepted: accepted, Trace: trace})
	}
	var failed error
	for range ev.channels {
		if err := <-errs; err != nil {
			failed = err
		}
	}
	if failed != nil {
		return errorf(http.StatusServiceUnavailable, "event not accepted: %v", failed)
	}
	return nil
}

// allowEvents applies the app's backend events per second to a trigger of n deliveries.
func (s *Server) allowEvents(app *actors.App, n int) *apiError {
	if !s.limiter(app).allowEvents(time.Now(), n) {
		return errorf(http.StatusTooManyRequests, "over the app's backend events per second")
	}
	return nil
}

func (s *Server) triggerEvents(ctx context.Context, r *apiRequest) (any, *apiError) {
	var body eventBody
	if err := json.Unmarshal(r.body, &body); err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	ev, apiErr := s.validateEvent(r.app, body)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.allowEvents(r.app, ev.deliveries()); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.publish(ctx, r.app, ev); apiErr != nil {
		return nil, apiErr
	}
	if !ev.info.any() {
		return struct{}{}, nil
	}
	channels := map[string]map[string]int64{}
	for _, ch := range ev.channels {
		attrs, apiErr := s.channelAttributes(ctx, r.app, ch, ev.info)
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
	if l := r.app.Limits.MaxBatchEvents; l > 0 && len(body.Batch) > l {
		return nil, errorf(http.StatusBadRequest, "at most %d events per batch", l)
	}
	events := make([]validEvent, len(body.Batch))
	anyInfo := false
	for i, b := range body.Batch {
		if len(b.Channels) > 0 {
			return nil, errorf(http.StatusBadRequest, "batch[%d]: a batch event has one channel", i)
		}
		ev, apiErr := s.validateEvent(r.app, b)
		if apiErr != nil {
			apiErr.message = fmt.Sprintf("batch[%d]: %s", i, apiErr.message)
			return nil, apiErr
		}
		events[i] = ev
		anyInfo = anyInfo || ev.info.any()
	}
	total := 0
	for _, ev := range events {
		total += ev.deliveries()
	}
	if apiErr := s.allowEvents(r.app, total); apiErr != nil {
		return nil, apiErr
	}
	for _, ev := range events {
		if apiErr := s.publish(ctx, r.app, ev); apiErr != nil {
			return nil, apiErr
		}
	}
	if !anyInfo {
		return struct{}{}, nil
	}
	results := make([]map[string]int64, len(events))
	for i, ev := range events {
		results[i] = map[string]int64{}
		if ev.info.any() {
			attrs, apiErr := s.channelAttributes(ctx, r.app, ev.channels[0], ev.info) // info implies a channel
			if apiErr != nil {
				return nil, apiErr
			}
			results[i] = attrs
		}
	}
	return map[string]any{"batch": results}, nil
}

// infoFields are the attributes a caller asked for with info=.
type infoFields struct{ userCount, subscriptionCount bool }

func (f infoFields) any() bool { return f.userCount || f.subscriptionCount }

// parseInfo reads info=a,b. user_count is only for presence channels (400 otherwise).
func parseInfo(info string, channels []protocol.Channel) (infoFields, *apiError) {
	f, apiErr := parseInfoFields(info)
	if apiErr != nil || !f.userCount {
		return f, apiErr
	}
	for _, ch := range channels {
		if ch.Kind != protocol.Presence {
			return f, errorf(http.StatusBadRequest, "user_count is only available for presence channels (%s)", ch.Name)
		}
	}
	return f, nil
}

// parseInfoFields reads the attribute names of info=a,b.
func parseInfoFields(info string) (infoFields, *apiError) {
	var f infoFields
	for _, field := range strings.Split(info, ",") {
		switch strings.TrimSpace(field) {
		case "":
		case "user_count":
			f.userCount = true
		case "subscription_count":
			f.subscriptionCount = true
		default:
			return f, errorf(http.StatusBadRequest, "unknown info attribute %q", field)
		}
	}
	return f, nil
}

func (s *Server) channelAttributes(ctx context.Context, app *actors.App, ch protocol.Channel, f infoFields) (map[string]int64, *apiError) {
	info, err := s.engine.ChannelInfo(ctx, app, ch.Name, false)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, "channel %s: %v", ch.Name, err)
	}
	attrs := map[string]int64{}
	if f.subscriptionCount {
		attrs["subscription_count"] = info.SubscriptionCount
	}
	if f.userCount {
		attrs["user_count"] = info.UserCount
	}
	return attrs, nil
}

func (s *Server) listChannels(ctx context.Context, r *apiRequest) (any, *apiError) {
	q := r.URL.Query()
	prefix := q.Get("filter_by_prefix")
	f, apiErr := parseInfoFields(q.Get("info"))
	if apiErr != nil {
		return nil, apiErr
	}
	if f.userCount && !strings.HasPrefix(prefix, "presence-") {
		return nil, errorf(http.StatusBadRequest, "info=user_count needs filter_by_prefix=presence-")
	}
	names, err := s.engine.ChannelsOnAllNodes(ctx, r.app, prefix)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, "listing channels: %v", err)
	}
	sort.Strings(names)
	channels := map[string]map[string]int64{}
	for _, name := range names { // already filtered by prefix on each node
		attrs := map[string]int64{}
		if f.any() {
			ch, _ := protocol.ParseChannel(name, len(name))
			var apiErr *apiError
			if attrs, apiErr = s.channelAttributes(ctx, r.app, ch, f); apiErr != nil {
				return nil, apiErr
			}
		}
		channels[name] = attrs
	}
	return map[string]any{"channels": channels}, nil
}

func (s *Server) channelFromPath(r *apiRequest) (protocol.Channel, *apiError) {
	ch, err := protocol.ParseChannel(r.PathValue("channel"), r.app.Limits.MaxChannelNameLength)
	if err != nil {
		return ch, errorf(http.StatusBadRequest, "%v", err)
	}
	return ch, nil
}

func (s *Server) channelInfo(ctx context.Context, r *apiRequest) (any, *apiError) {
	ch, apiErr := s.channelFromPath(r)
	if apiErr != nil {
		return nil, apiErr
	}
	f, apiErr := parseInfo(r.URL.Query().Get("info"), []protocol.Channel{ch})
	if apiErr != nil {
		return nil, apiErr
	}
	info, err := s.engine.ChannelInfo(ctx, r.app, ch.Name, false)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, "channel %s: %v", ch.Name, err)
	}
	res := map[string]any{"occupied": info.Occupied}
	if f.subscriptionCount {
		res["subscription_count"] = info.SubscriptionCount
	}
	if f.userCount {
		res["user_count"] = info.UserCount
	}
	return res, nil
}

func (s *Server) channelUsers(ctx context.Context, r *apiRequest) (any, *apiError) {
	ch, apiErr := s.channelFromPath(r)
	if apiErr != nil {
		return nil, apiErr
	}
	if ch.Kind != protocol.Presence {
		return nil, errorf(http.StatusBadRequest, "users are only available for presence channels")
	}
	info, err := s.engine.ChannelInfo(ctx, r.app, ch.Name, true)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, "channel %s: %v", ch.Name, err)
	}
	users := make([]map[string]string, len(info.UserIds))
	for i, id := range info.UserIds {
		users[i] = map[string]string{"id": id}
	}
	return map[string]any{"users": users}, nil
}

func (s *Server) terminateUser(_ context.Context, r *apiRequest) (any, *apiError) {
	user := r.PathValue("user")
	if user == "" {
		return nil, errorf(http.StatusBadRequest, "user id is required")
	}
	s.engine.TerminateUser(r.app, user)
	return struct{}{}, nil
}
