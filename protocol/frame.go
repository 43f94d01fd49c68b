package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	inner, _, err := unquote(bytes.TrimSpace(raw))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if err := json.Unmarshal(inner, v); err != nil {
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
