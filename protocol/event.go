package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Reasons an event is refused, the same for the HTTP API and for client events. The HTTP API
// answers ErrEventDataTooLarge with 413 and the others with 400; a client gets pusher:error.
var (
	ErrEventNameMissing  = errors.New("event name is required")
	ErrEventNameTooLong  = errors.New("event name is too long")
	ErrEventDataTooLarge = errors.New("event data is too large")
	ErrEventDataInvalid  = errors.New("event data is not valid JSON text")
)

// ValidateEvent checks an event's name and the size of its data against the app's limits: the
// one check of an event, whether the HTTP API or a client sent it.
func (l Limits) ValidateEvent(name string, dataLen int) error {
	if name == "" {
		return ErrEventNameMissing
	}
	if l.MaxEventNameLength > 0 && len(name) > l.MaxEventNameLength {
		return fmt.Errorf("%w: longer than %d bytes", ErrEventNameTooLong, l.MaxEventNameLength)
	}
	if l.MaxEventDataSize > 0 && dataLen > l.MaxEventDataSize {
		return fmt.Errorf("%w: larger than %d bytes", ErrEventDataTooLarge, l.MaxEventDataSize)
	}
	return nil
}

// EventText is an event's data as the text a subscriber reads, the one normaliser of "data is a
// string or JSON": a JSON string gives its value, null or nothing gives "", any other JSON value
// gives its JSON text. The Pusher HTTP libraries send a string; some send an object. Data that
// is not valid JSON or not valid UTF-8 is refused, so herald never relays bytes a browser rejects.
func EventText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	inner, quoted, err := unquote(raw)
	if err != nil {
		return "", err
	}
	if quoted {
		return string(inner), nil
	}
	if !json.Valid(raw) || !utf8.Valid(raw) {
		return "", ErrEventDataInvalid
	}
	return string(raw), nil
}

// ClientEventData is a client event's data as herald relays it: the JSON value the client sent,
// embedded as is (pusher-js sends an object), or null when there is none. Invalid JSON or
// invalid UTF-8 is refused: relayed, it would break every receiving browser's socket.
func ClientEventData(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return json.RawMessage("null"), nil
	}
	if !utf8.Valid(raw) || !json.Valid(raw) {
		return nil, ErrEventDataInvalid
	}
	return raw, nil
}

// unquote returns the value of raw when it is a JSON string (quoted true), else raw itself. A
// string's escapes are decoded; invalid UTF-8 inside it is an error, not U+FFFD.
func unquote(raw []byte) (value []byte, quoted bool, err error) {
	if len(raw) == 0 || raw[0] != '"' {
		return raw, false, nil
	}
	if !utf8.Valid(raw) {
		return nil, true, ErrEventDataInvalid
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, true, fmt.Errorf("%w: %v", ErrEventDataInvalid, err)
	}
	return []byte(s), true, nil
}
