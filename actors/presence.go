package actors

import (
	"strconv"

	"github.com/herald-io/herald/protocol"
)

// roster is a presence channel's members: user id -> user_info and open subscriptions, with the
// encoded roster kept between changes. Adding or removing a member is O(1); encoding the roster
// for a new subscriber is O(members) once per change, then reused.
type roster struct {
	members map[string]*member
	order   []string       // member ids in join order, for a stable roster
	index   map[string]int // id -> position in order
	encoded []byte         // cached {"ids":..,"hash":..,"count":..}, nil when stale
}

type member struct {
	info          []byte         // user_info JSON, or nil
	subscriptions int            // open subscriptions of this user on the channel, all nodes
	perNode       map[string]int // node key -> subscriptions there
}

func newRoster() *roster {
	return &roster{members: map[string]*member{}, index: map[string]int{}}
}

func (r *roster) count() int { return len(r.members) }

func (r *roster) has(userID string) bool { _, ok := r.members[userID]; return ok }

// add counts one subscription of userID from node and reports whether the user is new.
func (r *roster) add(userID string, info []byte, node string) bool {
	m, ok := r.members[userID]
	if !ok {
		m = &member{info: info, perNode: map[string]int{}}
		r.members[userID] = m
		r.index[userID] = len(r.order)
		r.order = append(r.order, userID)
		r.encoded = nil
	}
	m.subscriptions++
	m.perNode[node]++
	return !ok
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
	i := r.index[userID]
	last := len(r.order) - 1
	r.order[i] = r.order[last]
	r.index[r.order[i]] = i
	r.order = r.order[:last]
	delete(r.index, userID)
	delete(r.members, userID)
	r.encoded = nil
}

// presenceJSON is {"presence":{"ids":[..],"hash":{id:info},"count":n}}, the data of
// subscription_succeeded on a presence channel.
func (r *roster) presenceJSON() []byte {
	if r.encoded != nil {
		return r.encoded
	}
	b := make([]byte, 0, 64+len(r.order)*48)
	b = append(b, `{"presence":{"ids":[`...)
	for i, id := range r.order {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendJSONString(b, id)
	}
	b = append(b, `],"hash":{`...)
	for i, id := range r.order {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendJSONString(b, id)
		b = append(b, ':')
		b = appendInfo(b, r.members[id].info)
	}
	b = append(b, `},"count":`...)
	b = strconv.AppendInt(b, int64(len(r.order)), 10)
	b = append(b, "}}"...)
	r.encoded = b
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
