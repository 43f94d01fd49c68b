package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
)

// serverFrame is a frame as a client decodes it, data left raw.
type serverFrame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
}

// decodeServerFrame decodes a frame and its double-encoded data with encoding/json, independently
// of the encoders under test.
func decodeServerFrame(t *testing.T, b []byte) (serverFrame, any) {
	t.Helper()
	var f serverFrame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	var text string
	if err := json.Unmarshal(f.Data, &text); err != nil {
		return f, nil // data is not a string
	}
	var data any
	if err := json.Unmarshal([]byte(text), &data); err != nil {
		t.Fatalf("data %q of %s is not JSON: %v", text, b, err)
	}
	return f, data
}

func TestServerFrames(t *testing.T) {
	tests := []struct {
		name    string
		frame   []byte
		event   string
		channel string
		data    any
	}{
		{"subscription succeeded", SubscriptionSucceededFrame("private-a"), EventSubscriptionSucceeded, "private-a", map[string]any{}},
		{"subscription count", SubscriptionCountFrame("a", 7), EventSubscriptionCount, "a", map[string]any{"subscription_count": 7.0}},
		{"cache miss", CacheMissFrame("cache-a"), EventCacheMiss, "cache-a", map[string]any{}},
		{"signin success", SigninSuccessFrame(`{"id":"u"}`), EventSigninSuccess, "", map[string]any{"user_data": `{"id":"u"}`}},
		{"watchlist online", WatchlistFrame("u\"1", true), EventWatchlist, "",
			map[string]any{"events": []any{map[string]any{"name": "online", "user_ids": []any{"u\"1"}}}}},
		{"watchlist offline", WatchlistFrame("u", false), EventWatchlist, "",
			map[string]any{"events": []any{map[string]any{"name": "offline", "user_ids": []any{"u"}}}}},
		{"member added", MemberAddedFrame("presence-a", "u1", json.RawMessage(`{"n":"A"}`)), EventMemberAdded, "presence-a",
			map[string]any{"user_id": "u1", "user_info": map[string]any{"n": "A"}}},
		{"member added without info", MemberAddedFrame("presence-a", "u1", nil), EventMemberAdded, "presence-a",
			map[string]any{"user_id": "u1", "user_info": nil}},
		{"member removed", MemberRemovedFrame("presence-a", "u\\1"), EventMemberRemoved, "presence-a", map[string]any{"user_id": "u\\1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, data := decodeServerFrame(t, tt.frame)
			if f.Event != tt.event || f.Channel != tt.channel {
				t.Fatalf("event %q channel %q, want %q %q", f.Event, f.Channel, tt.event, tt.channel)
			}
			if !reflect.DeepEqual(data, tt.data) {
				t.Fatalf("data %#v, want %#v", data, tt.data)
			}
		})
	}
}

func TestClientEventFrame(t *testing.T) {
	b := ClientEventFrame("client-typing", "presence-a", json.RawMessage(`{"on":true}`), "u1")
	var f serverFrame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.Event != "client-typing" || f.Channel != "presence-a" || string(f.Data) != `{"on":true}` || f.UserID != "u1" {
		t.Fatalf("frame %s", b)
	}
}
