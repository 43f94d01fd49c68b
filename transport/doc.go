// Package transport is herald's network edge: the gws WebSocket endpoint at /app/{key} and the
// Pusher HTTP API at /apps/{id}/... . It turns bytes into protocol values and typed messages for
// the actors, and frames from the actors back into bytes, through a bounded write queue per
// socket. A plain listener's connections meet the front door first (frontdoor.go), which
// upgrades Pusher handshakes itself and hands everything else to net/http. A socket's read loop
// hands what it reads to a pooled handler (inbound.go), so that an idle socket keeps a small
// stack; writes go out through a fixed pool of writers (writers.go). It holds no channel
// state of its own. transport/console is the debug console served
// on metrics_listen; transport/webhooks delivers webhooks.
package transport
