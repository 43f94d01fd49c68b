package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
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
//
// Every message a client sends goes through here and DecodeData, on the socket's read
// goroutine, so they read the object with gjson instead of encoding/json: reflection cost about a
// tenth of a connect's CPU, most of it in growing the read goroutine's stack for its deep calls
// (and in the GC shrinking it again). They accept and refuse what encoding/json would for the
// same struct (FuzzDecodersMatchEncodingJSON holds them to it): member names match regardless
// of case, a later duplicate wins, null is no value, and a value of the wrong type is an error.
func DecodeFrame(b []byte) (Frame, error) {
	var f Frame
	err := eachMember(b, func(name string, v gjson.Result) error {
		switch {
		case nameIs(name, "event"):
			return stringMember(&f.Event, name, v)
		case nameIs(name, "channel"):
			return stringMember(&f.Channel, name, v)
		case nameIs(name, "data"):
			f.Data = json.RawMessage(v.Raw)
		}
		return nil
	})
	if err != nil {
		return Frame{}, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if f.Event == "" {
		return Frame{}, fmt.Errorf("%w: no event name", ErrBadFrame)
	}
	return f, nil
}

// eachMember calls fn with each member of the JSON object b, in order; null is an object
// with no members, as encoding/json reads it into a struct.
func eachMember(b []byte, fn func(name string, v gjson.Result) error) error {
	if tooDeep(b) { // before gjson, whose validation recurses once per level
		return errors.New("exceeded max depth")
	}
	if !gjson.ValidBytes(b) {
		return errors.New("not valid JSON")
	}
	root := gjson.ParseBytes(b)
	switch root.Type {
	case gjson.Null:
		return nil
	case gjson.JSON:
		if root.IsObject() {
			break
		}
		fallthrough
	default:
		return errors.New("not a JSON object")
	}
	var err error
	root.ForEach(func(name, v gjson.Result) bool {
		err = fn(name.Str, v)
		return err == nil
	})
	return err
}

// maxNesting is encoding/json's limit on nested arrays and objects.
const maxNesting = 10000

// tooDeep tells whether b nests arrays and objects deeper than maxNesting, counting the
// brackets outside strings.
func tooDeep(b []byte) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > maxNesting {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// nameIs matches a member name to a field's as encoding/json does: exactly or case-folded.
func nameIs(name, field string) bool { return name == field || strings.EqualFold(name, field) }

// replaceInvalidUTF8 replaces each byte of s that is not UTF-8 with U+FFFD, as encoding/json
// does.
func replaceInvalidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // a byte that is not UTF-8 ranges as one RuneError
		b.WriteRune(r)
	}
	return b.String()
}

// stringMember sets *dst to a string member; null leaves it as it is.
func stringMember(dst *string, name string, v gjson.Result) error {
	switch v.Type {
	case gjson.String:
		*dst = replaceInvalidUTF8(v.Str)
	case gjson.Null:
	default:
		return fmt.Errorf("member %q is not a string", name)
	}
	return nil
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
// clients send it, a string holding one. SubscribeData and SigninData, the data clients send
// on every connect, are read without reflection (see DecodeFrame); other types with
// encoding/json.
func DecodeData(raw json.RawMessage, v any) error {
	inner, _, err := unquote(bytes.TrimSpace(raw))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	switch d := v.(type) {
	case *SubscribeData:
		err = eachMember(inner, func(name string, v gjson.Result) error {
			switch {
			case nameIs(name, "channel"):
				return stringMember(&d.Channel, name, v)
			case nameIs(name, "auth"):
				return stringMember(&d.Auth, name, v)
			case nameIs(name, "channel_data"):
				return stringMember(&d.ChannelData, name, v)
			}
			return nil
		})
	case *SigninData:
		err = eachMember(inner, func(name string, v gjson.Result) error {
			switch {
			case nameIs(name, "auth"):
				return stringMember(&d.Auth, name, v)
			case nameIs(name, "user_data"):
				return stringMember(&d.UserData, name, v)
			}
			return nil
		})
	default:
		err = json.Unmarshal(inner, v)
	}
	if err != nil {
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
