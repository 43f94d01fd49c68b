package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns a slog.Logger writing to w at level ("debug", "info", "warn", "error") in
// format ("text" or "json"). Its records carry trace_id and span_id when they are logged with
// a context that has a span (logger.InfoContext(ctx, ...)); see WithTraceContext.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(WithTraceContext(slog.NewTextHandler(w, opts))), nil
	case "json":
		return slog.New(WithTraceContext(slog.NewJSONHandler(w, opts))), nil
	default:
		return nil, fmt.Errorf("log format %q: use text or json", format)
	}
}

// Keys of the trace attributes WithTraceContext adds to log records.
const (
	LogKeyTraceID = "trace_id"
	LogKeySpanID  = "span_id"
)

// WithTraceContext wraps h so that a record logged with a context holding a valid span gets
// trace_id and span_id attributes (hex, as Jaeger shows them). Records logged without such a
// context pass unchanged, at the cost of one context lookup. Under Logger.WithGroup the two
// attributes land in the group, like any other.
func WithTraceContext(h slog.Handler) slog.Handler {
	if _, ok := h.(traceContextHandler); ok {
		return h
	}
	return traceContextHandler{inner: h}
}

type traceContextHandler struct{ inner slog.Handler }

func (h traceContextHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h traceContextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String(LogKeyTraceID, sc.TraceID().String()), slog.String(LogKeySpanID, sc.SpanID().String()))
		}
	}
	return h.inner.Handle(ctx, r)
}

func (h traceContextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceContextHandler{inner: h.inner.WithAttrs(attrs)}
}

func (h traceContextHandler) WithGroup(name string) slog.Handler {
	return traceContextHandler{inner: h.inner.WithGroup(name)}
}
