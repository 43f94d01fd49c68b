// Package telemetry owns herald's observability: slog loggers whose records carry the trace
// of their context, whose debug lines are bounded per second, and whose levels can be rewritten
// for a library that logs normal operation as errors (logging.go), the OpenTelemetry tracer provider and its exporters (OTLP gRPC or HTTP to
// Jaeger, stdout), the W3C trace context carried in actor messages' `trace` maps, span helpers
// with the attribute names fixed in one place (spans.go), and typed metrics exported for
// Prometheus on /metrics next to /up and /ready (metrics.go).
//
// Everything is free when off: with the exporter none the tracer is a no-op, the span helpers
// return their context unchanged and a shared no-op span, Inject returns nil and Extract of a
// nil map returns context.Background(), all without allocating; with metrics off Metrics() is
// nil and every recording method on a nil receiver returns at once. A nil *Telemetry is a
// valid, fully disabled one.
//
// Trace shape: HTTP API request (server span, continuing the caller's traceparent) ->
// pusher.publish per channel (producer, on the channel grain's node) -> pusher.fanout per node
// (consumer, with recipients and bytes). Client events, subscribes and sign-ins start their own
// traces (server spans); webhook POSTs are client spans whose traceparent the receiver gets.
// Jaeger for local use: `go tool task telemetry:jaeger` (Taskfile.yml here).
package telemetry
