package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestWebhookBody(t *testing.T) {
	n := int64(3)
	body := WebhookBody(1700000000123, []*WebhookEvent{
		{Name: WebhookChannelOccupied, Channel: "a"},
		{Name: WebhookMemberAdded, Channel: "presence-a", UserID: "u1"},
		{Name: WebhookClientEvent, Channel: "private-a", Event: "client-x", SocketID: "1.2"},
		{Name: WebhookSubscriptionCount, Channel: "a", SubscriptionCount: &n},
	})
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	want := map[string]any{"time_ms": 1700000000123.0, "events": []any{
		map[string]any{"name": "channel_occupied", "channel": "a"},
		map[string]any{"name": "member_added", "channel": "presence-a", "user_id": "u1"},
		// a client_event carries data even when it is empty
		map[string]any{"name": "client_event", "channel": "private-a", "event": "client-x", "data": "", "socket_id": "1.2"},
		map[string]any{"name": "subscription_count", "channel": "a", "subscription_count": 3.0},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %s\ngot  %#v\nwant %#v", body, got, want)
	}
}
