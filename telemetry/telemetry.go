package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName names herald's tracer and meter.
const instrumentationName = "github.com/herald-io/herald"

// Telemetry is one process's tracer provider, metrics and health endpoints. A nil *Telemetry
// is valid and does nothing: every method, and the Metrics it returns, are no-ops, so tests
// and callers that do not care need not set it up.
type Telemetry struct {
	cfg     Config
	log     *slog.Logger
	tracing bool
	tracer  trace.Tracer
	tp      *sdktrace.TracerProvider // nil when tracing is off
	mp      *sdkmetric.MeterProvider // nil when metrics are off
	metrics *Metrics                 // nil when metrics are off

	ready    atomic.Bool
	handler  *http.ServeMux
	listener net.Listener
	server   *http.Server
	served   chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

// Option changes Setup for tests.
type Option func(*setupOptions)

type setupOptions struct {
	spanProcessors []sdktrace.SpanProcessor
}

// WithSpanProcessor adds a span processor, typically an in-memory
// go.opentelemetry.io/otel/sdk/trace/tracetest.SpanRecorder. It turns tracing on (sampling
// every trace, as SampleRatio says) even when the exporter is none.
func WithSpanProcessor(sp sdktrace.SpanProcessor) Option {
	return func(o *setupOptions) { o.spanProcessors = append(o.spanProcessors, sp) }
}

// Setup builds the tracer provider, the metrics and, when cfg.MetricsListen is set, starts
// serving /metrics, /up and /ready there (the listener is open when Setup returns, so a busy
// port is an error here). Call Shutdown before the process exits to flush spans.
func Setup(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (*Telemetry, error) {
	cfg, err := cfg.checked()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	var o setupOptions
	for _, opt := range opts {
		opt(&o)
	}
	t := &Telemetry{cfg: cfg, log: logger.With("component", "telemetry")}
	t.ready.Store(true)

	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(cfg.ServiceName),
		semconv.ServiceInstanceID(cfg.NodeName),
	))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	if err := t.setupTraces(ctx, res, o.spanProcessors); err != nil {
		return nil, err
	}
	var registry *prometheus.Registry
	if cfg.MetricsListen != "" {
		if registry, err = t.setupMetrics(res); err != nil {
			_ = t.shutdownProviders(ctx)
			return nil, err
		}
	}
	t.handler = t.newHandler(registry)
	if cfg.MetricsListen != "" {
		if err := t.serve(cfg.MetricsListen); err != nil {
			_ = t.shutdownProviders(ctx)
			return nil, err
		}
	}
	if t.tracing {
		// The SDK reports failed exports only through this global hook.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			t.log.Warn("opentelemetry", "err", err)
		}))
	}
	return t, nil
}

func (t *Telemetry) setupTraces(ctx context.Context, res *resource.Resource, extra []sdktrace.SpanProcessor) error {
	tc := t.cfg.Traces
	var exporter sdktrace.SpanExporter
	var err error
	switch tc.Exporter {
	case ExporterOTLPGRPC:
		opts := []otlptracegrpc.Option{}
		if strings.Contains(tc.Endpoint, "://") {
			opts = append(opts, otlptracegrpc.WithEndpointURL(tc.Endpoint))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(tc.Endpoint), otlptracegrpc.WithInsecure())
		}
		exporter, err = otlptracegrpc.New(ctx, opts...)
	case ExporterOTLPHTTP:
		opts := []otlptracehttp.Option{}
		if strings.Contains(tc.Endpoint, "://") {
			opts = append(opts, otlptracehttp.WithEndpointURL(tc.Endpoint))
		} else {
			opts = append(opts, otlptracehttp.WithEndpoint(tc.Endpoint), otlptracehttp.WithInsecure())
		}
		exporter, err = otlptracehttp.New(ctx, opts...)
	case ExporterStdout:
		exporter, err = stdouttrace.New(stdouttrace.WithWriter(tc.Stdout))
	}
	if err != nil {
		return fmt.Errorf("traces exporter %s: %w", tc.Exporter, err)
	}
	if exporter == nil && len(extra) == 0 {
		t.tracer = tracenoop.NewTracerProvider().Tracer(instrumentationName)
		return nil
	}
	var sampler sdktrace.Sampler = sdktrace.AlwaysSample()
	if tc.SampleRatio < 1 {
		sampler = sdktrace.TraceIDRatioBased(tc.SampleRatio)
	}
	popts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sampler)),
	}
	if exporter != nil {
		// A short batch timeout makes a trace visible in Jaeger about a second after it ends.
		popts = append(popts, sdktrace.WithBatcher(exporter, sdktrace.WithBatchTimeout(time.Second)))
	}
	for _, sp := range extra {
		popts = append(popts, sdktrace.WithSpanProcessor(sp))
	}
	t.tp = sdktrace.NewTracerProvider(popts...)
	t.tracer = t.tp.Tracer(instrumentationName)
	t.tracing = true
	return nil
}

func (t *Telemetry) setupMetrics(res *resource.Resource) (*prometheus.Registry, error) {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := promexporter.New(
		promexporter.WithRegisterer(registry),
		// Set explicitly: the exporter's default depends on a global of prometheus/common.
		promexporter.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		promexporter.WithoutScopeInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	t.mp = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(exporter),
		// Exemplars would cost time on the per-recipient path and Prometheus' text format
		// does not show them.
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter),
	)
	if t.metrics, err = newMetrics(t.mp.Meter(instrumentationName)); err != nil {
		return nil, err
	}
	return registry, nil
}

// newHandler serves /metrics (when metrics are on), /up and /ready.
func (t *Telemetry) newHandler(registry *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	if registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
		}))
	}
	mux.HandleFunc("GET /up", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("up\n"))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !t.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if t.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (t *Telemetry) serve(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	t.listener = l
	t.server = &http.Server{Handler: t.handler, ReadHeaderTimeout: 10 * time.Second}
	t.served = make(chan struct{})
	go func() {
		defer close(t.served)
		if err := t.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.log.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}

// Tracer is herald's tracer: a no-op one when tracing is off.
func (t *Telemetry) Tracer() trace.Tracer {
	if t == nil || t.tracer == nil {
		return tracenoop.Tracer{}
	}
	return t.tracer
}

// TracerProvider is the provider behind Tracer, for libraries that take one.
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if t == nil || t.tp == nil {
		return tracenoop.NewTracerProvider()
	}
	return t.tp
}

// MeterProvider is the provider behind Metrics (a no-op one when metrics are off), for
// libraries that record their own metrics into the same /metrics (proto.actor's
// actor.WithMetricProviders).
func (t *Telemetry) MeterProvider() metric.MeterProvider {
	if t == nil || t.mp == nil {
		return metricnoop.NewMeterProvider()
	}
	return t.mp
}

// TracesDestination says where spans go, for the start-up banner: "off", "stdout", or the OTLP
// exporter and its endpoint ("otlp-grpc 127.0.0.1:4317"), with the share of new traces sampled
// when it is not all of them.
func (t *Telemetry) TracesDestination() string {
	if t == nil {
		return "off"
	}
	tc := t.cfg.Traces
	out := tc.Exporter
	switch tc.Exporter {
	case ExporterNone:
		return "off"
	case ExporterOTLPGRPC, ExporterOTLPHTTP:
		out += " " + tc.Endpoint
	}
	if tc.SampleRatio < 1 {
		out += fmt.Sprintf(" (sampling %g of new traces)", tc.SampleRatio)
	}
	return out
}

// TracingEnabled tells whether spans are recorded and exported.
func (t *Telemetry) TracingEnabled() bool { return t != nil && t.tracing }

// Metrics is herald's typed metrics, nil when metrics are off (a nil *Metrics records nothing).
func (t *Telemetry) Metrics() *Metrics {
	if t == nil {
		return nil
	}
	return t.metrics
}

// Handler serves /metrics (when metrics are on), /up (200 while the process runs) and /ready
// (200 until SetReady(false), then 503), for mounting on another listener as well.
func (t *Telemetry) Handler() http.Handler {
	if t == nil {
		return http.NotFoundHandler()
	}
	return t.handler
}

// Handle serves h at pattern (http.ServeMux's patterns) beside /metrics, /up and /ready: how
// the process mounts pages of its own, such as the debug console, on metrics_listen.
func (t *Telemetry) Handle(pattern string, h http.Handler) {
	if t != nil {
		t.handler.Handle(pattern, h)
	}
}

// MetricsAddr is the address /metrics is served on ("" when there is no listener): the real
// port when MetricsListen asked for port 0.
func (t *Telemetry) MetricsAddr() string {
	if t == nil || t.listener == nil {
		return ""
	}
	return t.listener.Addr().String()
}

// SetReady sets what /ready answers: 200 when true (the state after Setup), 503 when false.
// Shutdown calls SetReady(false) first, so a load balancer stops sending new clients.
func (t *Telemetry) SetReady(ready bool) {
	if t != nil {
		t.ready.Store(ready)
	}
}

// Shutdown flushes the spans not yet exported, stops the meter provider and closes the
// metrics listener, within ctx. It is safe to call more than once.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.shutdownOnce.Do(func() {
		t.SetReady(false)
		err := t.shutdownProviders(ctx)
		if t.server != nil {
			err = errors.Join(err, t.server.Shutdown(ctx))
			<-t.served
		}
		t.shutdownErr = err
	})
	return t.shutdownErr
}

func (t *Telemetry) shutdownProviders(ctx context.Context) error {
	var err error
	if t.tp != nil {
		flushCtx := ctx
		if d := t.cfg.Traces.FlushTimeout; d > 0 {
			var cancel context.CancelFunc
			flushCtx, cancel = clockwork.WithTimeout(ctx, t.cfg.Clock, d)
			defer cancel()
		}
		if e := t.tp.Shutdown(flushCtx); e != nil {
			err = fmt.Errorf("traces not all exported to %s: %w", t.TracesDestination(), e)
		}
	}
	if t.mp != nil {
		if e := t.mp.Shutdown(ctx); e != nil {
			err = errors.Join(err, fmt.Errorf("meter provider: %w", e))
		}
	}
	return err
}
