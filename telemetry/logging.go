package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"
)

// LogOption changes what NewLogger builds.
type LogOption func(*logOptions)

type logOptions struct {
	debugPerSecond int
	now            func() time.Time
}

// DebugPerSecond bounds the debug records written to n a second (bursts of n): the rest are
// dropped and counted, and the next record written says how many (debug_suppressed). Debug
// lines come per connection, subscription and request, so without a bound a flood of clients
// would be a flood of writes to the log. 0 or less: no bound.
func DebugPerSecond(n int) LogOption { return func(o *logOptions) { o.debugPerSecond = n } }

// LogClock makes the debug bound read time from now instead of the real clock (tests).
func LogClock(now func() time.Time) LogOption { return func(o *logOptions) { o.now = now } }

// NewLogger returns a slog.Logger writing to w at level ("debug", "info", "warn", "error") in
// format ("text" or "json"). Its records carry trace_id and span_id when they are logged with
// a context that has a span (logger.InfoContext(ctx, ...)); see WithTraceContext.
func NewLogger(w io.Writer, level, format string, opts ...LogOption) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	o := logOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	hopts := &slog.HandlerOptions{Level: l}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "", "text":
		h = slog.NewTextHandler(w, hopts)
	case "json":
		h = slog.NewJSONHandler(w, hopts)
	default:
		return nil, fmt.Errorf("log format %q: use text or json", format)
	}
	h = WithTraceContext(h)
	if o.debugPerSecond > 0 && l <= slog.LevelDebug {
		h = &debugLimitHandler{inner: h, budget: &debugBudget{
			lim: rate.NewLimiter(rate.Limit(o.debugPerSecond), o.debugPerSecond), now: o.now,
		}}
	}
	return slog.New(h), nil
}

// LogKeyDebugSuppressed counts the debug records dropped by DebugPerSecond before this one.
const LogKeyDebugSuppressed = "debug_suppressed"

// debugBudget is one logger's allowance of debug records, shared by every logger derived from
// it (With, WithGroup), so that the bound holds for the whole process.
type debugBudget struct {
	mu         sync.Mutex
	lim        *rate.Limiter
	now        func() time.Time
	suppressed atomic.Int64
}

func (b *debugBudget) allow() bool {
	b.mu.Lock()
	ok := b.lim.AllowN(b.now(), 1)
	b.mu.Unlock()
	if !ok {
		b.suppressed.Add(1)
	}
	return ok
}

type debugLimitHandler struct {
	inner  slog.Handler
	budget *debugBudget
}

func (h *debugLimitHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *debugLimitHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level <= slog.LevelDebug && !h.budget.allow() {
		return nil
	}
	if n := h.budget.suppressed.Swap(0); n > 0 {
		r.AddAttrs(slog.Int64(LogKeyDebugSuppressed, n))
	}
	return h.inner.Handle(ctx, r)
}

func (h *debugLimitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &debugLimitHandler{inner: h.inner.WithAttrs(attrs), budget: h.budget}
}

func (h *debugLimitHandler) WithGroup(name string) slog.Handler {
	return &debugLimitHandler{inner: h.inner.WithGroup(name), budget: h.budget}
}

// LevelRule is what RewriteLevels does with a record: the level it is written at, the record's
// own or a lower one.
type LevelRule func(r slog.Record) slog.Level

// RewriteLevels writes each record at the level rule gives it, e.g. a library's messages that
// are normal operation demoted from ERROR to DEBUG. A record moved below the logger's level is
// dropped.
func RewriteLevels(h slog.Handler, rule LevelRule) slog.Handler {
	return &levelRewriteHandler{inner: h, rule: rule}
}

type levelRewriteHandler struct {
	inner slog.Handler
	rule  LevelRule
}

// Enabled is the inner handler's: a rule only lowers levels, so a record not enabled at its own
// level is not at the one the rule would give it.
func (h *levelRewriteHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *levelRewriteHandler) Handle(ctx context.Context, r slog.Record) error {
	if level := h.rule(r); level < r.Level {
		r.Level = level
	}
	if !h.inner.Enabled(ctx, r.Level) {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

func (h *levelRewriteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelRewriteHandler{inner: h.inner.WithAttrs(attrs), rule: h.rule}
}

func (h *levelRewriteHandler) WithGroup(name string) slog.Handler {
	return &levelRewriteHandler{inner: h.inner.WithGroup(name), rule: h.rule}
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
