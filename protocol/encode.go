package protocol

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Every frame herald sends is built in this file (and the presence parts in presence.go), so the
// wire format has one writer. Data is double-encoded (a JSON string holding JSON) as the
// protocol has it, except pusher:error and pusher:subscription_error, whose data Pusher sends as
// an object, and client events, whose data is relayed as the client sent it.

// AppendEvent appends {"event":E,"channel":C,"data":"D"} (data as a JSON string, the protocol's
// double encoding) with "user_id" when userID is set. channel may be empty.
func AppendEvent(dst []byte, event, channel, data, userID string) []byte {
	dst = appendHead(dst, event, channel)
	dst = append(dst, `,"data":`...)
	dst = AppendJSONString(dst, data)
	return appendTail(dst, userID)
}

// AppendEventRawData is AppendEvent with data already a JSON value, as client events carry it.
func AppendEventRawData(dst []byte, event, channel string, data json.RawMessage, userID string) []byte {
	dst = appendHead(dst, event, channel)
	if len(data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return appendTail(dst, userID)
}

func appendHead(dst []byte, event, channel string) []byte {
	dst = append(dst, `{"event":`...)
	dst = AppendJSONString(dst, event)
	if channel != "" {
		dst = append(dst, `,"channel":`...)
		dst = AppendJSONString(dst, channel)
	}
	return dst
}

func appendTail(dst []byte, userID string) []byte {
	if userID != "" {
		dst = append(dst, `,"user_id":`...)
		dst = AppendJSONString(dst, userID)
	}
	return append(dst, '}')
}

// ConnectionEstablishedFrame is the first frame on every socket.
func ConnectionEstablishedFrame(socketID string, activityTimeoutSeconds int) []byte {
	data := `{"socket_id":` + string(AppendJSONString(nil, socketID)) +
		`,"activity_timeout":` + strconv.Itoa(activityTimeoutSeconds) + `}`
	return AppendEvent(nil, EventConnectionEstablished, "", data, "")
}

// PongFrame answers pusher:ping.
var PongFrame = []byte(`{"event":"pusher:pong","data":"{}"}`)

// PingFrame asks a silent client to show it is there.
var PingFrame = []byte(`{"event":"pusher:ping","data":"{}"}`)

// ErrorFrame is pusher:error. code 0 is sent as null, as Pusher does for errors without a code.
func ErrorFrame(code int, message string) []byte {
	b := []byte(`{"event":"pusher:error","data":{"code":`)
	if code == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(code), 10)
	}
	b = append(b, `,"message":`...)
	b = AppendJSONString(b, message)
	return append(b, "}}"...)
}

// SubscriptionErrorFrame is pusher:subscription_error with {type, error, status}.
func SubscriptionErrorFrame(channel, errType, message string, status int) []byte {
	b := appendHead(nil, EventSubscriptionError, channel)
	b = append(b, `,"data":{"type":`...)
	b = AppendJSONString(b, errType)
	b = append(b, `,"error":`...)
	b = AppendJSONString(b, message)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, "}}"...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string literal. Invalid UTF-8 becomes U+FFFD and U+2028,
// U+2029 are escaped, as encoding/json does, so any string yields valid JSON.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendJSONEscaped(dst, s)
	return append(dst, '"')
}

// AppendJSONEscaped appends s escaped for the inside of a JSON string literal, without quotes:
// for building a JSON string (such as double-encoded event data) from pre-escaped parts.
func AppendJSONEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// SubscriptionSucceededFrame is pusher_internal:subscription_succeeded of a channel that is not a
// presence channel (presence.go builds the presence one).
func SubscriptionSucceededFrame(channel string) []byte {
	return AppendEvent(nil, EventSubscriptionSucceeded, channel, "{}", "")
}

// SubscriptionCountFrame is pusher_internal:subscription_count with the channel's subscribers.
func SubscriptionCountFrame(channel string, count int64) []byte {
	data := strconv.AppendInt([]byte(`{"subscription_count":`), count, 10)
	return AppendEvent(nil, EventSubscriptionCount, channel, string(append(data, '}')), "")
}

// CacheMissFrame is pusher:cache_miss, sent to a cache channel's new subscriber when the channel
// holds no event.
func CacheMissFrame(channel string) []byte {
	return AppendEvent(nil, EventCacheMiss, channel, "{}", "")
}

// SigninSuccessFrame is pusher:signin_success, echoing the user_data the socket signed in with.
func SigninSuccessFrame(userData string) []byte {
	data := append(AppendJSONString([]byte(`{"user_data":`), userData), '}')
	return AppendEvent(nil, EventSigninSuccess, "", string(data), "")
}

// WatchlistFrame is pusher_internal:watchlist_events for one watched user going online or offline.
func WatchlistFrame(userID string, online bool) []byte {
	name := "offline"
	if online {
		name = "online"
	}
	data := append([]byte(`{"events":[{"name":"`+name+`","user_ids":[`), AppendJSONString(nil, userID)...)
	return AppendEvent(nil, EventWatchlist, "", string(append(data, "]}]}"...)), "")
}

// ClientEventFrame is a client event as its receivers get it: the data as the sender sent it
// (see ClientEventData) and, on presence channels, the sender's user_id.
func ClientEventFrame(event, channel string, data json.RawMessage, userID string) []byte {
	return AppendEventRawData(nil, event, channel, data, userID)
}
