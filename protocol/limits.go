package protocol

import "time"

// Limits are an app's limits: Pusher's, plus the flood limits herald adds. Their default values
// are Pusher's published ones and live in one place, configs/default.yaml (apps[].limits); the
// koanf tags name each field there. Zero in a rate or count field means unlimited, where noted.
type Limits struct {
	MaxConnections            int `koanf:"max_connections"`               // sockets per app (0: unlimited); over it a socket is closed 4004
	MaxClientEventsPerSecond  int `koanf:"max_client_events_per_second"`  // per connection (0: unlimited); over it pusher:error 4301
	MaxBackendEventsPerSecond int `koanf:"max_backend_events_per_second"` // HTTP API events per app (0: unlimited); over it HTTP 429
	MaxReadRequestsPerSecond  int `koanf:"max_read_requests_per_second"`  // HTTP API GETs per app (0: unlimited); over it HTTP 429
	MaxPresenceMembers        int `koanf:"max_presence_members"`          // distinct users per presence channel
	MaxPresenceMemberSize     int `koanf:"max_presence_member_size"`      // bytes of user_info JSON
	MaxEventDataSize          int `koanf:"max_event_data_size"`           // bytes of one event's data
	MaxEventNameLength        int `koanf:"max_event_name_length"`         // bytes of an event name
	MaxChannelNameLength      int `koanf:"max_channel_name_length"`       // bytes of a channel name
	MaxChannelsPerEvent       int `koanf:"max_channels_per_event"`        // channels in one trigger
	MaxBatchEvents            int `koanf:"max_batch_events"`              // events in one batch_events call
	MaxMessageSize            int `koanf:"max_message_size"`              // bytes of one WebSocket message from a client
	MaxConnectionsPerSecond   int `koanf:"max_connections_per_second"`    // new sockets of the app per second per node (0: unlimited); over it close 4100
	MaxSubscribesPerSecond    int `koanf:"max_subscribes_per_second"`     // pusher:subscribe per socket per second (0: unlimited); over it LimitReached 429
	MaxChannelsPerConnection  int `koanf:"max_channels_per_connection"`   // channels one socket is subscribed to at once (0: unlimited); over it LimitReached 403
}

// HTTPTimestampWindow is how far an HTTP API request's auth_timestamp may be from the server's
// clock: fixed by the Pusher HTTP API, not configurable.
const HTTPTimestampWindow = 600 * time.Second
