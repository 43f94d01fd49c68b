// Package node is what every actor of one herald node shares, given to each actor when it is
// made: the clock, the logger and telemetry, the apps, where channel and user grains are, the
// node's fan-out actors, where webhook events go, the cluster's members and the timings the config
// sets. Actors read it; none of them reaches into the Engine that built it.
package node

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// Node is one herald node as its actors see it.
type Node struct {
	// Name tells this node apart in traces and logs.
	Name string
	// Root sends messages from outside an actor: timers, the transport.
	Root *actor.RootContext
	// Clock is the time of every timer and time check, so that tests can move it.
	Clock clockwork.Clock
	Log   *slog.Logger
	// Tel traces and measures; nil does neither.
	Tel *telemetry.Telemetry

	Apps *Apps
	// Grains finds channel and user grains (local actors on one node, cluster grains in a cluster).
	Grains Locator
	// Fanouts are this node's fan-out actors, one per channel with local subscribers.
	Fanouts *Registry
	// LocalGrains are the cluster grains active on this node.
	LocalGrains *Activations
	// Webhooks takes the webhook events the grains produce.
	Webhooks WebhookSink
	// Tap records what happens to the apps a debug console watches (nil: nothing is watched).
	Tap *Tap
	// Members lists the addresses of the cluster's members; this node alone without a cluster.
	Members func() []string
	// Owns reports whether this member owns the grain of kind and identity by its current view
	// of the members; always true without a cluster.
	Owns func(kind, identity string) bool
	// Backup is the address of the member next in line for the grain of kind and identity (its
	// owner if the owner dies), where the grain keeps what no survivor could rebuild; "" without
	// a cluster or with one member.
	Backup func(kind, identity string) string
	// Leaving is set when the node starts to leave the cluster (SIGTERM): its grains go on
	// serving until they are handed over, but leave the webhook checks that come due meanwhile to
	// their next activation, which has them from the replica, so that none is sent twice.
	Leaving atomic.Bool

	// Fanned counts what the node's fan-outs handed to sockets: the HTTP API's backpressure
	// paces publishers by it when the node falls behind.
	Fanned FannedCount

	Timing Timing
	// Mailboxes runs the actors' mailboxes (dispatcher.go); nil: proto.actor's default.
	Mailboxes *Mailboxes

	instances instanceSpawner // SpawnInstance's shared Props
}

// Timing is the timers the config sets for the actors.
type Timing struct {
	// WebhookDelay is how long channel_vacated and member_removed wait to see whether the
	// channel or the member is back (webhooks.delay; Pusher: 3 s).
	WebhookDelay time.Duration
	// RebuildTimeout bounds how long a re-activated grain waits for members' state.
	RebuildTimeout time.Duration
	// RequestTimeout is how long the HTTP API sends a publish again (request_timeout).
	RequestTimeout time.Duration
}

// PublishIDsFor is how long a grain or a fan-out remembers a publish id, to take a publish sent
// again once: twice the longest its sender sends it again (request_timeout; a client event,
// 10 s), and at least 30 s.
func (t Timing) PublishIDsFor() time.Duration { return max(30*time.Second, 2*t.RequestTimeout) }

// After sends msg to pid once d has passed on the node's clock. The timer can be stopped.
func (n *Node) After(d time.Duration, pid *actor.PID, msg any) clockwork.Timer {
	root := n.Root
	return n.Clock.AfterFunc(d, func() { root.Send(pid, msg) })
}

// WebhookSink takes the webhook events of an app. Emit never blocks; delivery (batching,
// signing, POSTs, retries) happens at the network edge, outside the actors.
type WebhookSink interface {
	Emit(app *configs.App, ev *protocol.WebhookEvent)
}

// NoWebhooks drops every event: for a node without webhook delivery (tests).
type NoWebhooks struct{}

// Emit drops ev.
func (NoWebhooks) Emit(*configs.App, *protocol.WebhookEvent) {}

// Sink is one client socket as the actors see it. The transport implements it.
type Sink interface {
	// Send queues a frame for this socket alone and returns at once. The frame must not be
	// modified afterwards. A socket whose queue is over its limit closes itself.
	Send(frame []byte)
	// SendShared queues a frame that many sockets get (a channel's event): the transport frames
	// it once for all of them. Like Send, it returns at once.
	SendShared(f *Frame)
	// Close sends a close frame with a Pusher close code after the frames already queued, and
	// closes the socket.
	Close(code int, reason string)
}

// FannedCount is the events a node's fan-outs wrote to their sockets' queues, and the bytes of
// those frames (a frame's bytes once per socket). One add of each per event, not per socket.
type FannedCount struct {
	Events, Bytes atomic.Int64
}

// Add counts one event whose frame of size bytes went to sockets sockets.
func (c *FannedCount) Add(sockets, size int) {
	c.Events.Add(1)
	c.Bytes.Add(int64(sockets * size))
}

// Frame is one encoded frame on its way to many sockets, built once per event and shared. The
// transport attaches its wire form the first time a socket takes it (Wire), so that an event is
// framed once for all its sockets, not once per socket.
type Frame struct {
	Payload []byte
	// Taken is when herald took the frame's event (the HTTP API's trigger, a client event), on
	// the real clock; zero when unknown. A socket's queueing delay counts from it, so that the
	// HTTP API's backpressure sees an event's whole wait inside herald, not only the part in
	// the socket's queue.
	Taken time.Time
	wire  atomic.Pointer[[]byte]
}

// NewFrame wraps an encoded frame for sharing. payload must not change afterwards.
func NewFrame(payload []byte) *Frame { return &Frame{Payload: payload} }

// Wire is the frame's wire form: encode(Payload) the first time, the same bytes afterwards.
// Concurrent first calls may each encode; one result wins, and the results are equal.
func (f *Frame) Wire(encode func(payload []byte) []byte) []byte {
	if w := f.wire.Load(); w != nil {
		return *w
	}
	w := encode(f.Payload)
	if f.wire.CompareAndSwap(nil, &w) {
		return w
	}
	return *f.wire.Load()
}
