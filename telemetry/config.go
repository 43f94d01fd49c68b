package telemetry

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
)

// Trace exporters Config.Traces.Exporter accepts.
const (
	ExporterNone     = "none"
	ExporterOTLPGRPC = "otlp-grpc"
	ExporterOTLPHTTP = "otlp-http"
	ExporterStdout   = "stdout"
)

// The OTLP exporters' standard local endpoints, used when Endpoint is empty: a rule of OTLP, not
// a herald default (herald's defaults are in configs/default.yaml).
const (
	otlpGRPCLocal = "127.0.0.1:4317"
	otlpHTTPLocal = "127.0.0.1:4318"
)

// Config configures Setup; herald fills it from the telemetry section of its config. An empty
// MetricsListen turns metrics off; an empty Exporter turns tracing off.
type Config struct {
	// ServiceName is the service.name of every span and of target_info.
	ServiceName string
	// NodeName tells the nodes of a cluster apart: it is the resource attribute
	// service.instance.id (a process tag in Jaeger, a label of target_info). Default: the host
	// name. In a cluster of several nodes on one host, set it (e.g. to the cluster address).
	NodeName string
	Traces   TracesConfig
	// MetricsListen is where /metrics, /up and /ready are served. Empty: no listener and no
	// metrics (Telemetry.Metrics returns nil, every recording is a no-op). Use 127.0.0.1:0 when
	// several nodes run on one host.
	MetricsListen string
	// Clock bounds the final flush of spans (Traces.FlushTimeout); nil is the real clock.
	Clock clockwork.Clock
	// Pprof serves Go's profiles (net/http/pprof) under /debug/pprof/ on MetricsListen, for
	// profiling under load. Off by default: profiles show internals and cost CPU while taken.
	Pprof bool
}

// TracesConfig configures tracing.
type TracesConfig struct {
	// Exporter is none (or empty: a no-op tracer provider, no cost at all), otlp-grpc,
	// otlp-http or stdout (JSON spans on Stdout, for debugging).
	Exporter string
	// Endpoint is the OTLP collector's host:port (sent without TLS), or a URL
	// (http://host:port, https://host:port). Empty: the exporter's standard local endpoint,
	// 127.0.0.1:4317 for otlp-grpc and 127.0.0.1:4318 for otlp-http.
	Endpoint string
	// SampleRatio is the share of new traces that are recorded, in (0, 1]; a span with a
	// parent (a traceparent from a client or another node) follows its parent's decision.
	SampleRatio float64
	// FlushTimeout bounds the export of the spans still buffered when Shutdown is called: a
	// collector that does not answer must not hold the process's exit. 0: Shutdown's context
	// alone bounds it.
	FlushTimeout time.Duration
	// Stdout is where the stdout exporter writes; nil is os.Stdout. Not a config file key.
	Stdout io.Writer
}

// checked normalises the exporter's name, fills what the exporter implies, and checks the values.
func (c Config) checked() (Config, error) {
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
	}
	t := &c.Traces
	t.Exporter = strings.ToLower(strings.TrimSpace(t.Exporter))
	switch t.Exporter {
	case "":
		t.Exporter = ExporterNone
	case ExporterNone, ExporterStdout:
	case ExporterOTLPGRPC:
		if t.Endpoint == "" {
			t.Endpoint = otlpGRPCLocal
		}
	case ExporterOTLPHTTP:
		if t.Endpoint == "" {
			t.Endpoint = otlpHTTPLocal
		}
	default:
		return c, fmt.Errorf("traces exporter %q: use none, otlp-grpc, otlp-http or stdout", t.Exporter)
	}
	if t.Exporter != ExporterNone && (t.SampleRatio <= 0 || t.SampleRatio > 1) {
		return c, fmt.Errorf("traces sample ratio %v: must be in (0, 1]", t.SampleRatio)
	}
	if t.Stdout == nil {
		t.Stdout = os.Stdout
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	return c, nil
}
