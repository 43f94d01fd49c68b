package channel

import (
	"encoding/json"

	"github.com/herald-io/herald/protocol"
)

// roster is a presence channel's members: user id -> user_info and open subscriptions per node.
// Each member keeps its parts of the subscription_succeeded frame already encoded
// (protocol.PresenceMember), and the roster keeps their concatenation, appended to on a join and
// rebuilt (by copying, not re-encoding) after a leave. So a join costs one copy of the roster
// into the new subscriber's frame, and that frame is reused until the roster changes.
type roster struct {
	members map[string]*member
	order   []*member // members in join order (swap-removed)

	ids, hash []byte // escaped `"id",...` and `"id":info,...`; stale after a removal
	stale     bool
	frame     []byte // cached subscription_succeeded frame, nil after any change
}

type member struct {
	protocol.PresenceMember
	pos           int            // index in roster.order
	subscriptions int            // open subscriptions of this user on the channel, all nodes
	perNode       map[string]int // node key -> subscriptions there
}

func newRoster() *roster {
	return &roster{members: map[string]*member{}}
}

func (r *roster) count() int { return len(r.members) }

// userIDs lists the members in join order.
func (r *roster) userIDs() []string {
	out := make([]string, len(r.order))
	for i, m := range r.order {
		out[i] = m.ID
	}
	return out
}

func (r *roster) has(userID string) bool { _, ok := r.members[userID]; return ok }

// add counts one subscription of userID from node and reports whether the user is new.
func (r *roster) add(userID string, info json.RawMessage, node string) bool {
	m, ok := r.members[userID]
	if !ok {
		m = &member{PresenceMember: protocol.NewPresenceMember(userID, info), pos: len(r.order), perNode: map[string]int{}}
		r.members[userID] = m
		r.order = append(r.order, m)
		r.frame = nil
		if !r.stale {
			r.appendEntries(m)
		}
	}
	m.subscriptions++
	m.perNode[node]++
	return !ok
}

func (r *roster) appendEntries(m *member) {
	if len(r.ids) > 0 {
		r.ids = append(r.ids, ',')
		r.hash = append(r.hash, ',')
	}
	r.ids = append(r.ids, m.EscapedID...)
	r.hash = append(r.hash, m.EscapedEntry...)
}

// remove drops one subscription of userID from node and reports whether the user left.
func (r *roster) remove(userID, node string) bool {
	m, ok := r.members[userID]
	if !ok || m.perNode[node] == 0 {
		return false
	}
	m.subscriptions--
	if m.perNode[node]--; m.perNode[node] == 0 {
		delete(m.perNode, node)
	}
	if m.subscriptions > 0 {
		return false
	}
	r.drop(userID)
	return true
}

// removeNode drops every subscription from node and returns the users that left.
func (r *roster) removeNode(node string) []string {
	var left []string
	for id, m := range r.members {
		n := m.perNode[node]
		if n == 0 {
			continue
		}
		delete(m.perNode, node)
		if m.subscriptions -= n; m.subscriptions <= 0 {
			left = append(left, id)
		}
	}
	for _, id := range left {
		r.drop(id)
	}
	return left
}

func (r *roster) drop(userID string) {
	i := r.members[userID].pos
	last := len(r.order) - 1
	r.order[i] = r.order[last]
	r.order[i].pos = i
	r.order[last] = nil
	r.order = r.order[:last]
	delete(r.members, userID)
	r.stale, r.frame = true, nil
}

// succeededFrame is the channel's pusher_internal:subscription_succeeded frame for a new
// subscriber, reused until the roster changes.
func (r *roster) succeededFrame(channel string) []byte {
	if r.frame != nil {
		return r.frame
	}
	if r.stale {
		r.ids, r.hash, r.stale = r.ids[:0], r.hash[:0], false
		for _, m := range r.order {
			r.appendEntries(m)
		}
	}
	r.frame = protocol.AppendPresenceSucceeded(make([]byte, 0, 128+len(channel)+len(r.ids)+len(r.hash)),
		channel, r.ids, r.hash, len(r.order))
	return r.frame
}
