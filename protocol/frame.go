package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Event names of the protocol.
const (
	EventConnectionEstablished = "pusher:connection_established"
	EventError                 = "pusher:error"
	EventPing                  = "pusher:ping"
	EventPong                  = "pusher:pong"
	EventSubscribe             = "pusher:subscribe"
	EventUnsubscribe           = "pusher:unsubscribe"
	EventSignin                = "pusher:signin"
	EventSigninSuccess         = "pusher:signin_success"
	EventSubscriptionError     = "pusher:subscription_error"
	EventCacheMiss             = "pusher:cache_miss"
	EventSubscriptionSucceeded = "pusher_internal:subscription_succeeded"
	EventSubscriptionCount     = "pusher_internal:subscription_count"
	EventMemberAdded           = "pusher_internal:member_added"
	EventMemberRemoved         = "pusher_internal:member_removed"
	EventWatchlist             = "pusher_internal:watchlist_events"
)

// Frame is one decoded message from a client.
type Frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// ErrBadFrame is wrapped by every frame decoding failure.
var ErrBadFrame = errors.New("invalid frame")

// DecodeFrame parses a client frame: a JSON object with a string "event".
func DecodeFrame(b []byte) (Frame, error) {
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if f.Event == "" {
		return Frame{}, fmt.Errorf("%w: no event name", ErrBadFrame)
	}
	return f, nil
}

// SubscribeData is the data of pusher:subscribe.
type SubscribeData struct {
	Channel     string `json:"channel"`
	Auth        string `json:"auth,omitempty"`
	ChannelData string `json:"channel_data,omitempty"`
}

// SigninData is the data of pusher:signin.
type SigninData struct {
	Auth     string `json:"auth"`
	UserData string `json:"user_data"`
}

// DecodeData unmarshals a frame's data into v. The data may be a JSON object or, as some
// clients send it, a string holding one.
func DecodeData(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("%w: %v", ErrBadFrame, err)
		}
		raw = json.RawMessage(s)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: data: %v", ErrBadFrame, err)
	}
	return nil
}

// PresenceChannelData is the channel_data a presence subscription is signed with.
type PresenceChannelData struct {
	UserID   string          `json:"-"`
	UserInfo json.RawMessage `json:"user_info,omitempty"`
}

// ParsePresenceChannelData reads channel_data: {"user_id": string or number, "user_info": any}.
func ParsePresenceChannelData(s string) (PresenceChannelData, error) {
	var raw struct {
		UserID   json.RawMessage `json:"user_id"`
		UserInfo json.RawMessage `json:"user_info"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return PresenceChannelData{}, fmt.Errorf("%w: channel_data: %v", ErrBadFrame, err)
	}
	id, err := userIDString(raw.UserID)
	if err != nil {
		return PresenceChannelData{}, err
	}
	return PresenceChannelData{UserID: id, UserInfo: raw.UserInfo}, nil
}

// UserData is the user_data of pusher:signin.
type UserData struct {
	ID        string
	Watchlist []string
}

// ParseUserData reads user_data: {"id": string, "watchlist": [ids], ...}.
func ParseUserData(s string) (UserData, error) {
	var raw struct {
		ID        json.RawMessage `json:"id"`
		Watchlist []string        `json:"watchlist"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return UserData{}, fmt.Errorf("%w: user_data: %v", ErrBadFrame, err)
	}
	id, err := userIDString(raw.ID)
	if err != nil {
		return UserData{}, err
	}
	return UserData{ID: id, Watchlist: raw.Watchlist}, nil
}

func userIDString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("%w: no user id", ErrBadFrame)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" {
			return "", fmt.Errorf("%w: bad user id", ErrBadFrame)
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("%w: user id must be a string or a number", ErrBadFrame)
	}
	return n.String(), nil
}

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
