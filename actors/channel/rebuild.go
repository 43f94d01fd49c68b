package channel

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
)

// rebuild is a re-activated grain collecting every member's part of its channel (each node is
// the truth for its own sockets) while it holds the messages that arrive meanwhile. The grain
// merges each answer into its subscribers and roster; once every member answered (or the rebuild
// timeout passed) it serves what it held, in order.
type rebuild struct {
	waiting      int
	held         []heldMessage
	knownMembers map[string]bool          // presence: every member some node's mirror of the roster has
	replica      *messages.ChannelReplica // the newest replica a member kept of the grain
	holders      []string                 // members that keep a replica of the grain
}

type heldMessage struct {
	sender *actor.PID
	msg    any
}

func newRebuild(members int) *rebuild {
	return &rebuild{waiting: members, knownMembers: map[string]bool{}}
}

// hold keeps a message to serve after the rebuild.
func (r *rebuild) hold(sender *actor.PID, msg any) {
	r.held = append(r.held, heldMessage{sender: sender, msg: msg})
}

// answered records one member's answer, its mirror of the roster and the replica it keeps of
// the grain; true when it was the last.
func (r *rebuild) answered(knownMembers []string, replica *messages.ChannelReplica) bool {
	if replica != nil {
		r.holders = append(r.holders, replica.Holder)
		if r.replica == nil || replica.Version > r.replica.Version {
			r.replica = replica
		}
	}
	for _, id := range knownMembers {
		r.knownMembers[id] = true
	}
	r.waiting--
	return r.waiting <= 0
}

// lost are the members some node knew that no surviving node has a socket for: they were on a
// member that died with the old activation, and are removed once, by this grain.
func (r *rebuild) lost(present func(userID string) bool) []string {
	var out []string
	for id := range r.knownMembers {
		if !present(id) {
			out = append(out, id)
		}
	}
	return out
}
