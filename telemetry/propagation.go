package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceContext is the W3C Trace Context propagator (traceparent, tracestate), used explicitly:
// herald never reads or sets OpenTelemetry's global propagator.
var traceContext = propagation.TraceContext{}

// Inject returns the W3C trace context of ctx's span as the `trace` map of an actor message,
// or nil when ctx has no valid span, which is always the case when tracing is off: then it
// costs a context lookup and allocates nothing.
func Inject(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	carrier := make(map[string]string, 2)
	traceContext.Inject(ctx, propagation.MapCarrier(carrier))
	return carrier
}

// Extract returns a context whose remote parent is the span a message's `trace` map names, to
// start the receiving side's span from. An empty map gives context.Background() without
// allocating.
func Extract(carrier map[string]string) context.Context {
	return ExtractInto(context.Background(), carrier)
}

// ExtractInto is Extract onto an existing context.
func ExtractInto(ctx context.Context, carrier map[string]string) context.Context {
	if len(carrier) == 0 {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier(carrier))
}

// InjectHTTP sets traceparent (and tracestate) on an outgoing request from ctx's span; with no
// valid span it does nothing.
func InjectHTTP(ctx context.Context, req *http.Request) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		traceContext.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
}

// ExtractHTTP returns ctx with the remote parent named by the request's traceparent header, if
// it has a valid one.
func ExtractHTTP(ctx context.Context, header http.Header) context.Context {
	if header.Get("traceparent") == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.HeaderCarrier(header))
}

// SampledTraceID is the trace id in a message's `trace` map when that trace is sampled (so that
// it can be found in the tracing backend), "" otherwise.
func SampledTraceID(carrier map[string]string) string {
	if len(carrier) == 0 {
		return ""
	}
	sc := trace.SpanContextFromContext(Extract(carrier))
	if !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}
