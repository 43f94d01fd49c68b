package messages

import (
	"encoding/json"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/node"
)

// Messages that never leave their node are plain Go values: they carry a socket (node.Sink),
// which cannot cross nodes. doc.go lists every message, these and the protobuf ones.

// ClientSubscribe is a socket's pusher:subscribe.
type ClientSubscribe struct{ Channel, Auth, ChannelData string }

// ClientUnsubscribe is a socket's pusher:unsubscribe.
type ClientUnsubscribe struct{ Channel string }

// ClientEvent is a socket's client- event to the other subscribers of a channel.
type ClientEvent struct {
	Event, Channel string
	Data           json.RawMessage
}

// ClientSignin is a socket's pusher:signin.
type ClientSignin struct{ Auth, UserData string }

// SocketClosed tells a connection actor its socket is gone: it leaves everything and stops.
type SocketClosed struct{}

// Join asks a node fan-out actor to add a local socket to its channel. The connection actor
// sends it as a request, so a join that reaches a stopped fan-out comes back as a dead letter.
type Join struct {
	SocketID string
	Sink     node.Sink
	Conn     *actor.PID // the socket's connection actor, told the grain's answer
	UserID   string     // presence channels: the member the socket is
	UserInfo json.RawMessage
	Trace    map[string]string
}

// Leave removes a local socket from a node fan-out's channel.
type Leave struct{ SocketID string }

// Subscribed tells a connection actor the channel's grain counted its socket: from now on the
// socket may send client events on the channel.
type Subscribed struct{ Channel string }

// SubscribeRefused tells a connection actor the channel's grain refused its socket (a full
// presence channel): the connection sends pusher:subscription_error and forgets the channel.
type SubscribeRefused struct {
	Channel string
	Type    string // pusher:subscription_error type
	Message string
	Status  int
}

// HandOver tells a stale activation of a channel grain that another member is rebuilding the
// grain (Request is that activation's NodeStateRequest, From the activation): this member's view
// of the owner is behind. The stale one stops acting at once and answers the node actor with
// HandedOver.
type HandOver struct {
	Request *NodeStateRequest
	From    *actor.PID
}

// HandedOver is a stale activation's last word to its node actor, which answers the rebuilding
// activation with it: State is the whole replicated state with the checks still pending, newer
// than any replica a member keeps (nil when the stale one had not finished its own rebuild).
type HandedOver struct {
	HandOver
	State *ReplicaUpdate
}
