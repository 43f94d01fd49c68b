package telemetry

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Trace exporters Config.Traces.Exporter accepts.
const (
	ExporterNone     = "none"
	ExporterOTLPGRPC = "otlp-grpc"
	ExporterOTLPHTTP = "otlp-http"
	ExporterStdout   = "stdout"
)

// Default values of Config; DefaultConfig returns them together.
const (
	DefaultServiceName      = "herald"
	DefaultOTLPGRPCEndpoint = "127.0.0.1:4317"
	DefaultOTLPHTTPEndpoint = "127.0.0.1:4318"
	DefaultSampleRatio      = 1.0
	DefaultMetricsListen    = "127.0.0.1:9601"
)

// Config configures Setup. Zero fields take the defaults noted, except MetricsListen, whose
// empty value turns metrics off.
type Config struct {
	// ServiceName is the service.name of every span and of target_info. Default "herald".
	ServiceName string
	// NodeName tells the nodes of a cluster apart: it is the resource attribute
	// service.instance.id (a process tag in Jaeger, a label of target_info). Default: the host
	// name. In a cluster of several nodes on one host, set it (e.g. to the cluster address).
	NodeName string
	Traces   TracesConfig
	// MetricsListen is where /metrics, /up and /ready are served. Empty: no listener and no
	// metrics (Telemetry.Metrics returns nil, every recording is a no-op). DefaultConfig has
	// 127.0.0.1:9601; use 127.0.0.1:0 when several nodes run on one host.
	MetricsListen string
	// Pprof serves Go's profiles (net/http/pprof) under /debug/pprof/ on MetricsListen, for
	// profiling under load. Off by default: profiles show internals and cost CPU while taken.
	Pprof bool
}

// TracesConfig configures tracing.
type TracesConfig struct {
	// Exporter is none (the default: a no-op tracer provider, no cost at all), otlp-grpc,
	// otlp-http or stdout (JSON spans on Stdout, for debugging).
	Exporter string
	// Endpoint is the OTLP collector's host:port (sent without TLS), or a URL
	// (http://host:port, https://host:port). Default 127.0.0.1:4317 for otlp-grpc and
	// 127.0.0.1:4318 for otlp-http.
	Endpoint string
	// SampleRatio is the share of new traces that are recorded, in (0, 1]; a span with a
	// parent (a traceparent from a client or another node) follows its parent's decision.
	// Zero means the default, 1.
	SampleRatio float64
	// Stdout is where the stdout exporter writes. Default os.Stdout. Not a config file key.
	Stdout io.Writer
}

// DefaultConfig is the configuration herald ships with: tracing off, metrics on
// 127.0.0.1:9601.
func DefaultConfig() Config {
	return Config{
		ServiceName:   DefaultServiceName,
		Traces:        TracesConfig{Exporter: ExporterNone, SampleRatio: DefaultSampleRatio},
		MetricsListen: DefaultMetricsListen,
	}
}

// withDefaults fills the zero fields and checks the values.
func (c Config) withDefaults() (Config, error) {
	if c.ServiceName == "" {
		c.ServiceName = DefaultServiceName
	}
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
			t.Endpoint = DefaultOTLPGRPCEndpoint
		}
	case ExporterOTLPHTTP:
		if t.Endpoint == "" {
			t.Endpoint = DefaultOTLPHTTPEndpoint
		}
	default:
		return c, fmt.Errorf("traces exporter %q: use none, otlp-grpc, otlp-http or stdout", t.Exporter)
	}
	if t.SampleRatio == 0 {
		t.SampleRatio = DefaultSampleRatio
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		return c, fmt.Errorf("traces sample ratio %v: must be in (0, 1]", t.SampleRatio)
	}
	if t.Stdout == nil {
		t.Stdout = os.Stdout
	}
	return c, nil
}
