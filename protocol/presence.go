package protocol

import (
	"encoding/json"
	"strconv"
)

// PresenceMember is one member's part of a presence channel's frames, encoded once when the
// member joins: its user id and its `"id":user_info` entry, each already escaped for the inside
// of the double-encoded subscription_succeeded data. A roster keeps these and joins them with
// commas, so a join costs a copy of the roster, never a re-encoding of it.
type PresenceMember struct {
	ID           string
	Info         json.RawMessage // user_info JSON, or nil
	EscapedID    []byte          // `\"id\"`
	EscapedEntry []byte          // `\"id\":info`
}

// NewPresenceMember encodes a member's parts.
func NewPresenceMember(userID string, info json.RawMessage) PresenceMember {
	id := AppendJSONString(nil, userID)
	entry := appendUserInfo(append(append([]byte(nil), id...), ':'), info)
	return PresenceMember{
		ID:           userID,
		Info:         info,
		EscapedID:    AppendJSONEscaped(nil, string(id)),
		EscapedEntry: AppendJSONEscaped(nil, string(entry)),
	}
}

// AppendPresenceSucceeded appends the pusher_internal:subscription_succeeded frame of a presence
// channel, data {"presence":{"ids":[..],"hash":{id:info,..},"count":n}} as a JSON string, from
// the members' EscapedID parts joined by commas (ids) and their EscapedEntry parts likewise (hash).
func AppendPresenceSucceeded(dst []byte, channel string, ids, hash []byte, count int) []byte {
	dst = append(dst, `{"event":"`+EventSubscriptionSucceeded+`","channel":`...)
	dst = AppendJSONString(dst, channel)
	dst = append(dst, `,"data":"{\"presence\":{\"ids\":[`...)
	dst = append(dst, ids...)
	dst = append(dst, `],\"hash\":{`...)
	dst = append(dst, hash...)
	dst = append(dst, `},\"count\":`...)
	dst = strconv.AppendInt(dst, int64(count), 10)
	return append(dst, `}}"}`...)
}

// MemberAddedFrame is pusher_internal:member_added, data {"user_id":id,"user_info":info}.
func MemberAddedFrame(channel, userID string, info json.RawMessage) []byte {
	b := make([]byte, 0, 32+len(userID)+len(info))
	b = AppendJSONString(append(b, `{"user_id":`...), userID)
	b = appendUserInfo(append(b, `,"user_info":`...), info)
	return AppendEvent(nil, EventMemberAdded, channel, string(append(b, '}')), "")
}

// MemberRemovedFrame is pusher_internal:member_removed, data {"user_id":id}.
func MemberRemovedFrame(channel, userID string) []byte {
	b := AppendJSONString([]byte(`{"user_id":`), userID)
	return AppendEvent(nil, EventMemberRemoved, channel, string(append(b, '}')), "")
}

func appendUserInfo(b []byte, info json.RawMessage) []byte {
	if len(info) == 0 {
		return append(b, "null"...)
	}
	return append(b, info...)
}
