package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestParseChannel(t *testing.T) {
	long := func(prefix string, n int) string { return prefix + strings.Repeat("a", n-len(prefix)) }
	tests := []struct {
		name   string
		in     string
		maxLen int
		want   Channel
		err    bool
	}{
		{name: "public", in: "my-channel", want: Channel{Name: "my-channel", Kind: Public}},
		{name: "public cache", in: "cache-x", want: Channel{Name: "cache-x", Kind: Public, Cache: true}},
		{name: "private", in: "private-x", want: Channel{Name: "private-x", Kind: Private}},
		{name: "private cache", in: "private-cache-x", want: Channel{Name: "private-cache-x", Kind: Private, Cache: true}},
		{name: "presence", in: "presence-room", want: Channel{Name: "presence-room", Kind: Presence}},
		{name: "presence cache", in: "presence-cache-room", want: Channel{Name: "presence-cache-room", Kind: Presence, Cache: true}},
		{name: "encrypted", in: "private-encrypted-x", want: Channel{Name: "private-encrypted-x", Kind: Encrypted}},
		{name: "encrypted cache", in: "private-encrypted-cache-x", want: Channel{Name: "private-encrypted-cache-x", Kind: Encrypted, Cache: true}},
		{name: "cache not at start of rest", in: "private-x-cache-y", want: Channel{Name: "private-x-cache-y", Kind: Private}},
		{name: "prefix in the middle is public", in: "x-private-y", want: Channel{Name: "x-private-y", Kind: Public}},
		{name: "prefixes are case sensitive", in: "Private-x", want: Channel{Name: "Private-x", Kind: Public}},
		{name: "presence without dash", in: "presencex", want: Channel{Name: "presencex", Kind: Public}},
		{name: "every allowed punctuation", in: "a_-=@,.;Z9", want: Channel{Name: "a_-=@,.;Z9", Kind: Public}},
		{name: "all letters and digits", in: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", want: Channel{Name: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}},
		{name: "exactly 164", in: long("presence-", 164), maxLen: 164, want: Channel{Name: long("presence-", 164), Kind: Presence}},
		{name: "165 over 164", in: long("", 165), maxLen: 164, err: true},
		{name: "no limit checks characters only", in: long("", 5000), maxLen: 0, want: Channel{Name: long("", 5000)}},
		{name: "negative limit is no limit", in: long("", 300), maxLen: -1, want: Channel{Name: long("", 300)}},
		{name: "custom limit ok", in: long("", 10), maxLen: 10, want: Channel{Name: long("", 10)}},
		{name: "custom limit over", in: long("", 11), maxLen: 10, err: true},
		{name: "custom limit above default", in: long("", 300), maxLen: 300, want: Channel{Name: long("", 300)}},
		{name: "empty", in: "", err: true},
		{name: "space", in: "a b", err: true},
		{name: "slash", in: "a/b", err: true},
		{name: "colon", in: "a:b", err: true},
		{name: "hash", in: "#x", err: true},
		{name: "star", in: "a*", err: true},
		{name: "plus", in: "a+b", err: true},
		{name: "quote", in: `a"b`, err: true},
		{name: "NUL", in: "a\x00b", err: true},
		{name: "newline", in: "a\n", err: true},
		{name: "unicode", in: "café", err: true},
		{name: "emoji", in: "private-😀", err: true},
		{name: "server to user", in: "#server-to-user-x", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChannel(tt.in, tt.maxLen)
			if tt.err {
				if err == nil {
					t.Fatalf("ParseChannel(%q) = %+v, want error", tt.in, got)
				}
				if !errors.Is(err, ErrInvalidChannel) {
					t.Fatalf("error %v does not wrap ErrInvalidChannel", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseChannel(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseChannel(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseChannelCharset(t *testing.T) {
	for b := 0; b < 256; b++ {
		c := byte(b)
		allowed := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-=@,.;", c) >= 0
		_, err := ParseChannel("x"+string([]byte{c})+"y", 0)
		if allowed != (err == nil) {
			t.Errorf("byte %#x: allowed=%v, err=%v", c, allowed, err)
		}
	}
}

func TestParseServerToUserChannel(t *testing.T) {
	tests := []struct {
		in   string
		id   string
		isOK bool
	}{
		{"#server-to-user-x", "x", true},
		{"#server-to-user-42", "42", true},
		{"#server-to-user-a:b", "a:b", true},
		{"#server-to-user-", "", false},
		{"server-to-user-x", "", false},
		{"private-x", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		id, ok := ParseServerToUserChannel(tt.in)
		if ok != tt.isOK || (ok && id != tt.id) {
			t.Errorf("ParseServerToUserChannel(%q) = %q, %v; want %q, %v", tt.in, id, ok, tt.id, tt.isOK)
		}
	}
}

func TestChannelKind(t *testing.T) {
	tests := []struct {
		kind         ChannelKind
		str          string
		needsAuth    bool
		clientEvents bool
	}{
		{Public, "public", false, false},
		{Private, "private", true, true},
		{Presence, "presence", true, true},
		{Encrypted, "encrypted", true, false},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if got := tt.kind.NeedsAuth(); got != tt.needsAuth {
			t.Errorf("%v NeedsAuth() = %v", tt.kind, got)
		}
		if got := tt.kind.AllowsClientEvents(); got != tt.clientEvents {
			t.Errorf("%v AllowsClientEvents() = %v", tt.kind, got)
		}
	}
}

func TestIsClientEvent(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"client-typing", true},
		{"client-", true},
		{"client", false},
		{"Client-typing", false},
		{"pusher:subscribe", false},
		{"pusher_internal:member_added", false},
		{"my-client-event", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsClientEvent(tt.name); got != tt.want {
			t.Errorf("IsClientEvent(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
