package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// ChannelKind is the access class of a channel, decided by its name prefix.
type ChannelKind uint8

const (
	Public ChannelKind = iota
	Private
	Presence
	Encrypted // private-encrypted-: end-to-end encrypted, no client events
)

func (k ChannelKind) String() string {
	switch k {
	case Private:
		return "private"
	case Presence:
		return "presence"
	case Encrypted:
		return "encrypted"
	default:
		return "public"
	}
}

// NeedsAuth reports whether subscribing needs a signature from the app's auth endpoint.
func (k ChannelKind) NeedsAuth() bool { return k != Public }

// AllowsClientEvents reports whether the protocol permits client- events on the kind.
func (k ChannelKind) AllowsClientEvents() bool { return k == Private || k == Presence }

// Channel is a validated channel name with what its prefix means.
type Channel struct {
	Name  string
	Kind  ChannelKind
	Cache bool // cache- variants keep their last event for new subscribers
}

// ServerToUserPrefix names the channel the HTTP API uses to reach every socket of a signed-in user.
const ServerToUserPrefix = "#server-to-user-"

// ErrInvalidChannel is wrapped by every channel name rejection.
var ErrInvalidChannel = errors.New("invalid channel name")

// ParseChannel validates a channel name against the Pusher rules (at most maxLen bytes of
// A-Z a-z 0-9 _ - = @ , . ;) and classifies it. maxLen is the app's max_channel_name_length;
// 0 or less checks the characters only.
func ParseChannel(name string, maxLen int) (Channel, error) {
	if name == "" {
		return Channel{}, fmt.Errorf("%w: empty", ErrInvalidChannel)
	}
	if maxLen > 0 && len(name) > maxLen {
		return Channel{}, fmt.Errorf("%w: longer than %d characters", ErrInvalidChannel, maxLen)
	}
	for i := 0; i < len(name); i++ {
		if !validChannelByte[name[i]] {
			return Channel{}, fmt.Errorf("%w: character %q not allowed", ErrInvalidChannel, name[i])
		}
	}
	return ClassifyChannel(name), nil
}

// ClassifyChannel tells the kind of a channel name that ParseChannel accepted before (a grain's
// or a fan-out's own name), without checking it again.
func ClassifyChannel(name string) Channel {
	c := Channel{Name: name}
	rest := name
	switch {
	case strings.HasPrefix(rest, "private-encrypted-"):
		c.Kind, rest = Encrypted, rest[len("private-encrypted-"):]
	case strings.HasPrefix(rest, "private-"):
		c.Kind, rest = Private, rest[len("private-"):]
	case strings.HasPrefix(rest, "presence-"):
		c.Kind, rest = Presence, rest[len("presence-"):]
	}
	c.Cache = strings.HasPrefix(rest, "cache-")
	return c
}

// ParseServerToUserChannel recognises "#server-to-user-{id}", which only the HTTP API may use.
func ParseServerToUserChannel(name string) (userID string, ok bool) {
	id, ok := strings.CutPrefix(name, ServerToUserPrefix)
	return id, ok && id != ""
}

var validChannelByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_-=@,.;" {
		t[c] = true
	}
	return t
}()

// IsClientEvent reports whether the event name is one a client may send to other subscribers.
func IsClientEvent(name string) bool { return strings.HasPrefix(name, "client-") }
