package webhooks

import (
	"slices"
	"strings"

	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
)

// Recorder is the debug console's tap (node.Tap), told about the POSTs of watched apps.
type Recorder interface {
	Watched(appID string) bool
	Record(appID string, ev node.Event)
}

// recordPost shows one POST attempt on the console of its app, when one watches it: the
// events' types, the target (its password hidden), the status (0 without an answer) and which
// attempt of the batch it was.
func (t *target) recordPost(b *batch, status int, err error) {
	c := t.d.console
	if c == nil || !c.Watched(t.app.id) {
		return
	}
	ev := node.Event{Kind: node.EventWebhook, Event: b.types, Target: redact(t.url), Status: status, Attempt: b.attempts, Count: b.events}
	if err != nil {
		ev.Message = err.Error()
	}
	c.Record(t.app.id, ev)
}

// eventTypes lists the distinct types of a batch's events, in order.
func eventTypes(events []*protocol.WebhookEvent) string {
	var names []string
	for _, ev := range events {
		if !slices.Contains(names, ev.Name) {
			names = append(names, ev.Name)
		}
	}
	return strings.Join(names, ",")
}
