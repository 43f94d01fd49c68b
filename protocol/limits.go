package protocol

import "time"

// Limits are the per-app limits Pusher applies, with Pusher's published defaults in
// DefaultLimits. Zero in a rate or count field means unlimited, except where noted.
type Limits struct {
	MaxConnections            int // sockets per app (0: unlimited); over it a socket is closed 4004
	MaxClientEventsPerSecond  int // per connection; over it pusher:error 4301
	MaxBackendEventsPerSecond int // HTTP API events per app (0: unlimited); over it HTTP 429
	MaxReadRequestsPerSecond  int // HTTP API GETs per app (0: unlimited); over it HTTP 429
	MaxPresenceMembers        int // distinct users per presence channel
	MaxPresenceMemberSize     int // bytes of user_info JSON
	MaxEventDataSize          int // bytes of one event's data
	MaxEventNameLength        int
	MaxChannelNameLength      int
	MaxChannelsPerEvent       int // channels in one trigger
	MaxBatchEvents            int // events in one batch_events call
	MaxMessageSize            int // bytes of one WebSocket frame from a client
}

// DefaultLimits are Pusher Channels' defaults.
var DefaultLimits = Limits{
	MaxClientEventsPerSecond: 10,
	MaxPresenceMembers:       100,
	MaxPresenceMemberSize:    1024,
	MaxEventDataSize:         10 * 1024,
	MaxEventNameLength:       200,
	MaxChannelNameLength:     164,
	MaxChannelsPerEvent:      100,
	MaxBatchEvents:           10,
	MaxMessageSize:           32 * 1024,
}

// DefaultActivityTimeout is how long a client may stay silent before it should ping; the server
// pings a silent client after it and closes with 4201 if no answer comes within PongTimeout.
const (
	DefaultActivityTimeout = 120 * time.Second
	PongTimeout            = 30 * time.Second
	// HTTPTimestampWindow is how far auth_timestamp may be from the server's clock.
	HTTPTimestampWindow = 600 * time.Second
)
