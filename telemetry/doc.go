// Package telemetry sets up herald's logs (slog, text or JSON). Tracing and metrics
// (OpenTelemetry, Prometheus) belong here too; they are not built yet.
package telemetry
