package channel

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
)

// rebuild is a re-activated grain collecting every member's part of its channel (each node is
// the truth for its own sockets) while it holds the messages that arrive meanwhile. The grain
// merges each answer into its subscribers and roster; once every member answered (or the rebuild
// timeout passed) it serves what it held, in order.
type rebuild struct {
	asked        map[string]bool // members asked for their part -> whether they answered
	waiting      int
	rounds       int // rebuild timeouts passed
	held         []heldMessage
	knownMembers map[string]bool          // presence: every member some node's mirror of the roster has
	removed      map[string]int64         // presence: members removed lately, by when (NodeState.RecentlyRemoved)
	replica      *messages.ChannelReplica // the newest replica a member kept of the grain
	holders      []string                 // members that keep a replica of the grain
}

type heldMessage struct {
	sender *actor.PID
	msg    any
}

func newRebuild() *rebuild {
	return &rebuild{asked: map[string]bool{}, knownMembers: map[string]bool{}, removed: map[string]int64{}}
}

// ask records that member is to be asked for its part: false when it was asked already. The
// rebuild waits for every member asked, so a member that the grain's own view missed (it is
// behind, having just joined) and that a sender or another member's answer names is asked too.
func (r *rebuild) ask(member string) bool {
	if _, asked := r.asked[member]; member == "" || asked {
		return false
	}
	r.asked[member] = false
	r.waiting++
	return true
}

// silent are the members asked that have not answered.
func (r *rebuild) silent() []string {
	var out []string
	for m, answered := range r.asked {
		if !answered {
			out = append(out, m)
		}
	}
	return out
}

// hold keeps a message to serve after the rebuild.
func (r *rebuild) hold(sender *actor.PID, msg any) {
	r.held = append(r.held, heldMessage{sender: sender, msg: msg})
}

// removedLately records the members a node saw the grain remove, and when.
func (r *rebuild) removedLately(byUser map[string]int64) {
	for id, at := range byUser {
		r.removed[id] = max(r.removed[id], at)
	}
}

// answered records member's answer (a repeat counts once), its mirror of the roster and the
// replica it keeps of the grain; true when every member asked has answered.
func (r *rebuild) answered(member string, knownMembers []string, replica *messages.ChannelReplica) bool {
	if done, asked := r.asked[member]; !asked || done {
		return r.waiting <= 0
	}
	r.asked[member] = true
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

// unheard are the removals whose member_removed check the next activation must schedule, user
// id -> when due: the previous activation told the nodes (their mirrors dropped the member, so it
// is not among the members lost) but died before its update reached the replica's holder. A
// removal the replica heard of is pending in it (restored) or was sent. Without any replica, only
// the checks not yet due are taken: a previous activation that lived on may have sent the others.
// skip: the user is present again, or its check is already scheduled.
func (r *rebuild) unheard(skip func(userID string) bool, now time.Time, delay time.Duration) map[string]time.Time {
	var out map[string]time.Time
	for id, removed := range r.removed {
		if r.knownMembers[id] || skip(id) {
			continue
		}
		if r.replica != nil && r.replica.Version >= uint64(removed) {
			continue
		}
		at := time.Unix(0, removed).Add(delay)
		if r.replica == nil && !at.After(now) {
			continue
		}
		if out == nil {
			out = map[string]time.Time{}
		}
		out[id] = at
	}
	return out
}
