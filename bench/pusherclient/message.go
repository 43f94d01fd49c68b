package pusherclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Message is one frame received from the server.
type Message struct {
	Event   string
	Channel string // empty when the frame has none
	// UserID is the frame's user_id (client events on presence channels). A numeric user_id is
	// kept as its JSON text.
	UserID string
	// Data is the frame's data as sent: usually a JSON string holding JSON (the protocol's
	// double encoding), sometimes an object. Use DataString or Decode to read it.
	Data json.RawMessage
	// Raw is the whole frame. It is kept even when the frame is not JSON, in which case Event
	// is empty.
	Raw      []byte
	Received time.Time // when the reader got the frame, for latency measurements
}

// DataString returns the data as a string: a JSON string is unquoted (undoing the double
// encoding), any other JSON value is returned as its text, and no data gives "".
func (m Message) DataString() (string, error) {
	if len(m.Data) == 0 || m.Data[0] != '"' {
		return string(m.Data), nil
	}
	var s string
	if err := json.Unmarshal(m.Data, &s); err != nil {
		return "", fmt.Errorf("pusherclient: data of %s: %w", m.Event, err)
	}
	return s, nil
}

// Decode unmarshals the data into v, whether it is a JSON object or a string holding one.
func (m Message) Decode(v any) error {
	return decodeData(m.Data, v)
}

// parseMessage fills a Message from raw frame bytes; raw is kept, not copied.
func parseMessage(raw []byte, received time.Time) Message {
	var head struct {
		Event   string          `json:"event"`
		Channel string          `json:"channel"`
		UserID  json.RawMessage `json:"user_id"`
		Data    json.RawMessage `json:"data"`
	}
	m := Message{Raw: raw, Received: received}
	if err := json.Unmarshal(raw, &head); err != nil {
		return m
	}
	m.Event, m.Channel, m.Data = head.Event, head.Channel, head.Data
	if len(head.UserID) > 0 && head.UserID[0] == '"' {
		_ = json.Unmarshal(head.UserID, &m.UserID)
	} else if string(head.UserID) != "null" {
		m.UserID = string(head.UserID)
	}
	return m
}

// ErrClosed is returned by reads and writes after Close.
var ErrClosed = errors.New("pusherclient: client closed")

// ErrCallbackMode is returned by Next when Options.OnMessage receives the messages instead.
var ErrCallbackMode = errors.New("pusherclient: messages go to OnMessage, not Next")

// CloseError reports that the connection ended without Close being called. Code is the WebSocket
// close code the server sent (a Pusher 4xxx code, or 1000-range), 1005 when its close frame had
// no code, or 1006 when the connection dropped without a close frame; Reason is the close
// reason or, for 1006, the network error.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("pusherclient: connection closed: code %d: %s", e.Code, e.Reason)
}

// SubscriptionError is a pusher:subscription_error answering a subscribe.
type SubscriptionError struct {
	Channel string `json:"-"`
	Type    string `json:"type"`  // SubscriptionErrorAuth, ...Invalid, ...LimitReached, or the server's own
	Message string `json:"error"` // the data's "error" field
	Status  int    `json:"status"`
}

func (e *SubscriptionError) Error() string {
	return fmt.Sprintf("pusherclient: subscription to %q failed: %s (%d): %s", e.Channel, e.Type, e.Status, e.Message)
}

// PusherError is a pusher:error frame; Code is 0 when the server sent none.
type PusherError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *PusherError) Error() string {
	return fmt.Sprintf("pusherclient: pusher:error %d: %s", e.Code, e.Message)
}

// asError turns a subscription_error or pusher:error message into its error value.
func asError(m Message) error {
	switch m.Event {
	case EventSubscriptionError:
		e := &SubscriptionError{Channel: m.Channel}
		if err := m.Decode(e); err != nil {
			e.Message = string(m.Data)
		}
		return e
	case EventError:
		e := &PusherError{}
		if err := m.Decode(e); err != nil {
			e.Message = string(m.Data)
		}
		return e
	}
	return nil
}
