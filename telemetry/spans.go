package telemetry

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Span attribute keys: the one place their names are fixed. Spans carry ids and names only,
// never secrets, signatures, auth strings, user data or event payloads.
//
//	pusher.app_id                  app id
//	pusher.channel                 channel name
//	pusher.event                   event name (client-..., or the API event's name)
//	pusher.socket_id               Pusher socket id of the socket involved
//	herald.node                    the node a fan-out ran on (NodeName / cluster address)
//	messaging.batch.message_count  fan-out: sockets the frame was queued to
//	herald.fanout.bytes            fan-out: bytes queued in total (frame size x recipients)
//	herald.webhook.events          webhook: events in the POST
//	http.request.method            HTTP method (server and webhook client spans)
//	http.route                     route pattern, e.g. /apps/{app}/events
//	http.response.status_code      HTTP status
//	server.address                 webhook target host (never its user info, path or query)
//	error.type                     webhook: the failure, a status code or "error"
var (
	KeyAppID         = attribute.Key("pusher.app_id")
	KeyChannel       = attribute.Key("pusher.channel")
	KeyEvent         = attribute.Key("pusher.event")
	KeySocketID      = attribute.Key("pusher.socket_id")
	KeyNode          = attribute.Key("herald.node")
	KeyRecipients    = attribute.Key("messaging.batch.message_count")
	KeyFanoutBytes   = attribute.Key("herald.fanout.bytes")
	KeyWebhookEvents = attribute.Key("herald.webhook.events")
	KeyHTTPMethod    = attribute.Key("http.request.method")
	KeyHTTPRoute     = attribute.Key("http.route")
	KeyHTTPStatus    = attribute.Key("http.response.status_code")
	KeyServerAddress = attribute.Key("server.address")
	KeyErrorType     = attribute.Key("error.type")
)

// Span names are fixed, never built from channel or event names: Jaeger lists every distinct
// name as an operation. HTTP server spans are named "METHOD /route/pattern".
const (
	spanNamePublish      = "pusher.publish"
	spanNameFanout       = "pusher.fanout"
	spanNameClientEvent  = "pusher.client_event"
	spanNameSubscribe    = "pusher.subscribe"
	spanNameSignin       = "pusher.signin"
	spanNameWebhook      = "pusher.webhook"
	spanNameHTTPFallback = "HTTP"
)

// disabledSpan is what the span helpers return when tracing is off: stored once as an
// interface so returning it allocates nothing.
var disabledSpan trace.Span = tracenoop.Span{}

// start starts a span; the callers check TracingEnabled first, because building the
// attribute list allocates even when nothing would record it.
func (t *Telemetry) start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// StartHTTPServerSpan starts the server span of an HTTP API request, continuing the request's
// traceparent when it has one. route is the pattern (/apps/{app}/events); empty, the
// request's ServeMux pattern is used. End it with EndHTTPServerSpan. WrapHTTP does both.
func (t *Telemetry) StartHTTPServerSpan(r *http.Request, route string) (context.Context, trace.Span) {
	if !t.TracingEnabled() {
		return r.Context(), disabledSpan
	}
	if route == "" {
		route = routeOf(r)
	}
	ctx := ExtractHTTP(r.Context(), r.Header)
	name := spanNameHTTPFallback
	if route != "" {
		name = r.Method + " " + route
	}
	attrs := []attribute.KeyValue{KeyHTTPMethod.String(r.Method), KeyHTTPRoute.String(route)}
	if app := r.PathValue("app"); app != "" {
		attrs = append(attrs, KeyAppID.String(app))
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// EndHTTPServerSpan records the response status (5xx marks the span as failed) and ends it.
func EndHTTPServerSpan(span trace.Span, status int) {
	if span.IsRecording() {
		span.SetAttributes(KeyHTTPStatus.Int(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
}

// routeOf is the path part of the ServeMux pattern that matched r ("POST /x/{y}" -> "/x/{y}").
func routeOf(r *http.Request) string {
	p := r.Pattern
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// StartPublishSpan starts the span of one event published to one channel (a producer span: it
// ends once the frame is handed to every node). Its context is what the Deliver messages carry.
func (t *Telemetry) StartPublishSpan(ctx context.Context, appID, channel, event string) (context.Context, trace.Span) {
	if !t.TracingEnabled() {
		return ctx, disabledSpan
	}
	return t.start(ctx, spanNamePublish, trace.SpanKindProducer,
		KeyAppID.String(appID), KeyChannel.String(channel), KeyEvent.String(event))
}

// StartFanoutSpan starts the span of one node writing one frame to its local subscribers (a
// consumer span). It is a child only: with no span in ctx (frames that no traced request
// caused, such as subscription_count) it records nothing, so internal traffic does not start
// traces of its own. End it with EndFanoutSpan.
func (t *Telemetry) StartFanoutSpan(ctx context.Context, appID, channel, node string) (context.Context, trace.Span) {
	if !t.TracingEnabled() || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, disabledSpan
	}
	return t.start(ctx, spanNameFanout, trace.SpanKindConsumer,
		KeyAppID.String(appID), KeyChannel.String(channel), KeyNode.String(node))
}

// EndFanoutSpan records how many sockets the frame was queued to and the bytes that made, and
// ends the span.
func EndFanoutSpan(span trace.Span, recipients, bytes int) {
	if span.IsRecording() {
		span.SetAttributes(KeyRecipients.Int(recipients), KeyFanoutBytes.Int(bytes))
	}
	span.End()
}

// StartClientEventSpan starts the span of a client event received on a socket (a server span:
// it usually starts the trace).
func (t *Telemetry) StartClientEventSpan(ctx context.Context, appID, channel, event, socketID string) (context.Context, trace.Span) {
	if !t.TracingEnabled() {
		return ctx, disabledSpan
	}
	return t.start(ctx, spanNameClientEvent, trace.SpanKindServer,
		KeyAppID.String(appID), KeyChannel.String(channel), KeyEvent.String(event), KeySocketID.String(socketID))
}

// StartSubscribeSpan starts the span of a pusher:subscribe, from the frame to the grain's answer.
func (t *Telemetry) StartSubscribeSpan(ctx context.Context, appID, channel, socketID string) (context.Context, trace.Span) {
	if !t.TracingEnabled() {
		return ctx, disabledSpan
	}
	return t.start(ctx, spanNameSubscribe, trace.SpanKindServer,
		KeyAppID.String(appID), KeyChannel.String(channel), KeySocketID.String(socketID))
}

// StartSigninSpan starts the span of a pusher:signin. The user id is not recorded.
func (t *Telemetry) StartSigninSpan(ctx context.Context, appID, socketID string) (context.Context, trace.Span) {
	if !t.TracingEnabled() {
		return ctx, disabledSpan
	}
	return t.start(ctx, spanNameSignin, trace.SpanKindServer, KeyAppID.String(appID), KeySocketID.String(socketID))
}

// StartWebhookSpan starts the client span of one webhook POST of events to targetURL. Only the
// target's host is recorded. Put the span's context on the request with InjectHTTP, and end it
// with EndWebhookSpan.
func (t *Telemetry) StartWebhookSpan(ctx context.Context, appID, targetURL string, events int) (context.Context, trace.Span) {
	if !t.TracingEnabled() {
		return ctx, disabledSpan
	}
	host := ""
	if u, err := url.Parse(targetURL); err == nil {
		host = u.Hostname()
	}
	return t.start(ctx, spanNameWebhook, trace.SpanKindClient,
		KeyAppID.String(appID), KeyHTTPMethod.String(http.MethodPost), KeyServerAddress.String(host),
		KeyWebhookEvents.Int(events))
}

// EndWebhookSpan records the POST's outcome, status 0 when there was no response, and ends
// the span. A non-2xx status or an error marks it as failed.
func EndWebhookSpan(span trace.Span, status int, err error) {
	if span.IsRecording() {
		if status != 0 {
			span.SetAttributes(KeyHTTPStatus.Int(status))
		}
		switch {
		case err != nil:
			span.SetAttributes(KeyErrorType.String("error"))
			span.SetStatus(codes.Error, err.Error())
		case status < 200 || status > 299:
			span.SetAttributes(KeyErrorType.String(strconv.Itoa(status)))
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
}

// EndSpan ends a span, marking it failed with err's message when err is not nil: for the
// subscribe, sign-in and client event spans that end in a refusal.
func EndSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
