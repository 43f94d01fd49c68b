package transport

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/protocol"
)

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
	return f.of(info), nil
}

// of is the attributes asked for, from a channel's info.
func (f infoFields) of(info *actors.ChannelInfo) map[string]int64 {
	attrs := map[string]int64{}
	if f.subscriptionCount {
		attrs["subscription_count"] = info.SubscriptionCount
	}
	if f.userCount {
		attrs["user_count"] = info.UserCount
	}
	return attrs
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
	names, err := s.engine.Channels(ctx, r.app, prefix)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, "listing channels: %v", err)
	}
	sort.Strings(names)
	channels := map[string]map[string]int64{}
	for _, name := range names { // already filtered by prefix on each node
		attrs := map[string]int64{}
		if f.any() {
			var apiErr *apiError
			if attrs, apiErr = s.channelAttributes(ctx, r.app, protocol.ClassifyChannel(name), f); apiErr != nil {
				return nil, apiErr
			}
		}
		channels[name] = attrs
	}
	return map[string]any{"channels": channels}, nil
}

func (s *Server) channelFromPath(r *apiRequest) (protocol.Channel, *apiError) {
	ch, err := protocol.ParseChannel(r.PathValue("channel"), r.app.Settings().Limits.MaxChannelNameLength)
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
	for k, v := range f.of(info) {
		res[k] = v
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
