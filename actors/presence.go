package actors

import (
	"strconv"

	"github.com/herald-io/herald/protocol"
)

// roster is a presence channel's members: user id -> user_info and open subscriptions. Each
// member keeps its roster entries already escaped for the double-encoded frame, and the roster
// keeps their concatenation, appended to on join and rebuilt (by copying, not re-encoding)
// after a leave. So a join costs one copy of the roster into the subscriber's frame, and the
// frame itself is reused until the roster changes.
type roster struct {
	members map[string]*member
	order   []*member // members in join order (swap-removed)

	ids, hash []byte // escaped `"id",...` and `"id":info,...`; stale after a removal
	stale     bool
	frame     []byte // cached subscription_succeeded frame, nil after any change
}

type member struct {
	id            string
	pos           int            // index in roster.order
	info          []byte         // user_info JSON, or nil
	escID         []byte         // `"id"` escaped for the inside of a JSON string
	escEntry      []byte         // `"id":info` escaped likewise
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
		out[i] = m.id
	}
	return out
}

func (r *roster) has(userID string) bool { _, ok := r.members[userID]; return ok }

// add counts one subscription of userID from node and reports whether the user is new.
func (r *roster) add(userID string, info []byte, node string) bool {
	m, ok := r.members[userID]
	if !ok {
		m = newMember(userID, info)
		m.pos = len(r.order)
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

func newMember(userID string, info []byte) *member {
	id := protocol.AppendJSONString(nil, userID)
	entry := appendInfo(append(append([]byte(nil), id...), ':'), info)
	return &member{
		id:       userID,
		info:     info,
		escID:    protocol.AppendJSONEscaped(nil, string(id)),
		escEntry: protocol.AppendJSONEscaped(nil, string(entry)),
		perNode:  map[string]int{},
	}
}

func (r *roster) appendEntries(m *member) {
	if len(r.ids) > 0 {
		r.ids = append(r.ids, ',')
		r.hash = append(r.hash, ',')
	}
	r.ids = append(r.ids, m.escID...)
	r.hash = append(r.hash, m.escEntry...)
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

func (r *roster) rebuild() {
	r.ids, r.hash, r.stale = r.ids[:0], r.hash[:0], false
	for _, m := range r.order {
		r.appendEntries(m)
	}
}

// succeededFrame is the pusher_internal:subscription_succeeded frame of the channel, with
// data {"presence":{"ids":[..],"hash":{id:info},"count":n}} as a JSON string.
func (r *roster) succeededFrame(channel string) []byte {
	if r.frame != nil {
		return r.frame
	}
	if r.stale {
		r.rebuild()
	}
	b := make([]byte, 0, 128+len(channel)+len(r.ids)+len(r.hash))
	b = append(b, `{"event":"`+protocol.EventSubscriptionSucceeded+`","channel":`...)
	b = protocol.AppendJSONString(b, channel)
	b = append(b, `,"data":"{\"presence\":{\"ids\":[`...)
	b = append(b, r.ids...)
	b = append(b, `],\"hash\":{`...)
	b = append(b, r.hash...)
	b = append(b, `},\"count\":`...)
	b = strconv.AppendInt(b, int64(len(r.order)), 10)
	b = append(b, `}}"}`...)
	r.frame = b
	return b
}

// memberJSON is {"user_id":id,"user_info":info}, the data of member_added.
func memberJSON(userID string, info []byte) string {
	b := make([]byte, 0, 32+len(userID)+len(info))
	b = append(b, `{"user_id":`...)
	b = protocol.AppendJSONString(b, userID)
	b = append(b, `,"user_info":`...)
	b = appendInfo(b, info)
	return string(append(b, '}'))
}

func appendInfo(b, info []byte) []byte {
	if len(info) == 0 {
		return append(b, "null"...)
	}
	return append(b, info...)
}
