package transport

import (
	"context"
	"encoding/json"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
)

// record tells the debug console what happened to the socket, when a console watches its app.
func (s *socket) record(ev node.Event) {
	if s.app == nil || !s.server.tap.Watched(s.app.ID) {
		return
	}
	if s.actor != nil {
		ev.SocketID = s.actor.SocketID()
	}
	s.server.tap.Record(s.app.ID, ev)
}

// protocolError sends pusher:error for a frame the socket stays open after.
func (s *socket) protocolError(code int, message string) {
	s.Send(protocol.ErrorFrame(code, message))
	s.record(node.Event{Kind: node.EventError, Event: protocol.EventError, Code: code, Message: message})
}

// HTTPStatus is the HTTP status of a failed Trigger.
func (e *apiError) HTTPStatus() int { return e.status }

// Trigger publishes an event to one channel as POST /apps/{id}/events does (the same checks, the
// app's event rate, the same path to the grains), for the debug console's event creator. A
// failure's HTTPStatus method gives the status the HTTP API would have answered.
func (s *Server) Trigger(ctx context.Context, app *actors.App, channel, event string, data json.RawMessage) error {
	t, apiErr := s.validateEvent(app, eventBody{Name: event, Data: data, Channel: channel})
	if apiErr == nil {
		apiErr = s.allowEvents(app, t.deliveries())
	}
	if apiErr == nil {
		apiErr = s.publish(ctx, app, t)
	}
	if apiErr != nil {
		return apiErr
	}
	return nil
}
