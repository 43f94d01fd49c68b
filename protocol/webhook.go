package protocol

import "strconv"

// The webhook event types of Pusher, the names an app's webhook target lists in event_types.
const (
	WebhookChannelOccupied   = "channel_occupied"
	WebhookChannelVacated    = "channel_vacated"
	WebhookMemberAdded       = "member_added"
	WebhookMemberRemoved     = "member_removed"
	WebhookClientEvent       = "client_event"
	WebhookCacheMiss         = "cache_miss"
	WebhookSubscriptionCount = "subscription_count"
)

// WebhookEventTypes lists every webhook event type.
var WebhookEventTypes = []string{WebhookChannelOccupied, WebhookChannelVacated, WebhookMemberAdded,
	WebhookMemberRemoved, WebhookClientEvent, WebhookCacheMiss, WebhookSubscriptionCount}

// WebhookEvent is one event of a webhook body. Name is one of the Webhook* types; the other
// fields are set as that type's shape in the Pusher docs has them:
//
//	{"name":"channel_occupied","channel":"x"}                     (channel_vacated, cache_miss alike)
//	{"name":"member_added","channel":"presence-x","user_id":"1"}  (member_removed alike)
//	{"name":"client_event","channel":"private-x","event":"client-e","data":"...","socket_id":"1.2","user_id":"1"}
//	{"name":"subscription_count","channel":"x","subscription_count":3}
//
// An event is shared by every target that gets it: it must not change once emitted.
type WebhookEvent struct {
	Name              string
	Channel           string
	Event             string
	Data              string
	SocketID          string
	UserID            string
	SubscriptionCount *int64
}

// MarshalJSON encodes the event as AppendWebhookEvent does.
func (e *WebhookEvent) MarshalJSON() ([]byte, error) { return AppendWebhookEvent(nil, e), nil }

// AppendWebhookEvent appends one event's JSON. A client_event always carries its data, even an
// empty string: receivers read it without checking that it is there.
func AppendWebhookEvent(dst []byte, e *WebhookEvent) []byte {
	dst = AppendJSONString(append(dst, `{"name":`...), e.Name)
	dst = AppendJSONString(append(dst, `,"channel":`...), e.Channel)
	if e.Event != "" {
		dst = AppendJSONString(append(dst, `,"event":`...), e.Event)
	}
	if e.Data != "" || e.Name == WebhookClientEvent {
		dst = AppendJSONString(append(dst, `,"data":`...), e.Data)
	}
	if e.SocketID != "" {
		dst = AppendJSONString(append(dst, `,"socket_id":`...), e.SocketID)
	}
	if e.UserID != "" {
		dst = AppendJSONString(append(dst, `,"user_id":`...), e.UserID)
	}
	if e.SubscriptionCount != nil {
		dst = strconv.AppendInt(append(dst, `,"subscription_count":`...), *e.SubscriptionCount, 10)
	}
	return append(dst, '}')
}

// WebhookBody is the body of one webhook POST: {"time_ms":T,"events":[...]}. Its signature is
// Sign(secret, body), sent in X-Pusher-Signature beside X-Pusher-Key.
func WebhookBody(timeMs int64, events []*WebhookEvent) []byte {
	body := strconv.AppendInt([]byte(`{"time_ms":`), timeMs, 10)
	body = append(body, `,"events":[`...)
	for i, ev := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = AppendWebhookEvent(body, ev)
	}
	return append(body, "]}"...)
}
