package node

import "github.com/asynkron/protoactor-go/actor"

// Kinds of grains.
const (
	ChannelKind = "channel"
	UserKind    = "user"
)

// Locator finds the grain of a channel or a user, activating it when needed. On one node grains
// are local actors; in a cluster they are proto.actor grains found by its identity lookup.
type Locator interface {
	ChannelPID(appID, channel string) *actor.PID
	UserPID(appID, userID string) *actor.PID
	// Release is called by a local grain that is stopping, so the next lookup activates a new one.
	Release(kind, key string, pid *actor.PID)
	// Forget drops a cached location after a dead letter; TopologyChanged drops them all.
	Forget(kind, key string)
	TopologyChanged()
}

// Key is the registry and grain identity of an app's channel or user. An app id cannot hold
// NUL, so the first NUL ends it whatever the name holds.
func Key(appID, name string) string { return appID + "\x00" + name }

// GrainKey names a grain of kind (ChannelKind, UserKind) with identity (a Key) among this
// node's activations and in a cluster's placement and lookup cache.
func GrainKey(kind, identity string) string { return kind + "/" + identity }

// SplitKey undoes Key.
func SplitKey(key string) (appID, name string) {
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}

// PIDKey names an actor uniquely across the cluster: a node fan-out's key in a channel grain.
func PIDKey(pid *actor.PID) string { return pid.Address + "/" + pid.Id }

// NodeActorName is the name of the one well-known actor of every node, which answers other
// members' questions about the node's sockets.
const NodeActorName = "herald-node"

// NodeActor is the node actor of the member at address.
func NodeActor(address string) *actor.PID { return actor.NewPID(address, NodeActorName) }
