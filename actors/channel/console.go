package channel

import (
	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/telemetry"
)

// record tells the debug console what happened to the channel, when a console watches the app.
func (g *Grain) record(kind, userID string) {
	if g.n.Tap.Watched(g.app.ID) {
		g.n.Tap.Record(g.app.ID, node.Event{Kind: kind, Channel: g.ch.Name, UserID: userID})
	}
}

// recordPublish shows an event published to the channel: an API message, or a client event
// with its sender. Count is the channel's subscribers, 0 when nobody gets it.
func (g *Grain) recordPublish(m *messages.Publish) {
	ev := node.Event{
		Kind: node.EventAPIMessage, Channel: g.ch.Name, Event: m.Event, Data: node.DataPreview(m.Data),
		Size: len(m.Data), TraceID: telemetry.SampledTraceID(m.Trace), Count: g.subs.count(),
	}
	if m.DataIsJson {
		ev.Kind, ev.SocketID, ev.UserID = node.EventClientEvent, m.ExcludeSocketId, m.UserId
	}
	g.n.Tap.Record(g.app.ID, ev)
}
