package pusherclient

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Event names of the Pusher protocol (version 7) that a client sends or reacts to. They are
// spelled here rather than taken from a server's code, so that a typo on the server side fails
// a test instead of passing it on both sides.
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
	EventSubscriptionSucceeded = "pusher_internal:subscription_succeeded"
	EventMemberAdded           = "pusher_internal:member_added"
	EventMemberRemoved         = "pusher_internal:member_removed"
)

// Subscription error types a server sends in pusher:subscription_error (as pusher-js reads
// them); a server may send others.
const (
	SubscriptionErrorAuth         = "AuthError"
	SubscriptionErrorInvalid      = "InvalidChannel"
	SubscriptionErrorLimitReached = "LimitReached"
)

// pongFrame answers a pusher:ping.
var pongFrame = []byte(`{"event":"pusher:pong","data":"{}"}`)

// subscribeData is the data of pusher:subscribe and pusher:unsubscribe.
type subscribeData struct {
	Channel     string `json:"channel"`
	Auth        string `json:"auth,omitempty"`
	ChannelData string `json:"channel_data,omitempty"`
}

type subscribeFrame struct {
	Event string        `json:"event"`
	Data  subscribeData `json:"data"`
}

// SubscribeFrame encodes a pusher:subscribe frame, as pusher-js sends it (data as an object).
// auth and channelData may be empty.
func SubscribeFrame(channel, auth, channelData string) []byte {
	b, _ := json.Marshal(subscribeFrame{Event: EventSubscribe, Data: subscribeData{Channel: channel, Auth: auth, ChannelData: channelData}})
	return b
}

// signinFrame is pusher:signin.
type signinFrame struct {
	Event string `json:"event"`
	Data  struct {
		Auth     string `json:"auth"`
		UserData string `json:"user_data"`
	} `json:"data"`
}

// decodeData unmarshals a frame's data into v. Servers send data as a string holding JSON
// (the protocol's double encoding); some send an object. Both are read.
func decodeData(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("pusherclient: data: %w", err)
		}
		raw = json.RawMessage(s)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("pusherclient: data: %w", err)
	}
	return nil
}
