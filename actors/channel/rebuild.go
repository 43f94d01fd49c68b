package channel

import "github.com/asynkron/protoactor-go/actor"

// rebuild is a re-activated grain collecting every member's part of its channel (each node is
// the truth for its own sockets) while it holds the messages that arrive meanwhile. The grain
// merges each answer into its subscribers and roster; once every member answered (or the rebuild
// timeout passed) it serves what it held, in order.
type rebuild struct {
	waiting      int
	held         []heldMessage
	knownMembers map[string]bool // presence: every member some node's mirror of the roster has
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

// answered records one member's answer and its mirror of the roster; true when it was the last.
func (r *rebuild) answered(knownMembers []string) bool {
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
