package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// jsonLines decodes a JSON logger's output, one record a line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		recs = append(recs, m)
	}
	return recs
}

// TestDebugLinesBounded: past DebugPerSecond a second, debug records are dropped and counted;
// the next record written says how many; other levels are never dropped.
func TestDebugLinesBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, "debug", "json", DebugPerSecond(10), LogClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	conn := logger.With("component", "transport") // derived loggers share the one budget
	for i := range 1000 {
		if i%2 == 0 {
			logger.Debug("flood", "i", i)
		} else {
			conn.Debug("flood", "i", i)
		}
	}
	logger.Warn("still written")
	recs := jsonLines(t, buf.String())
	if len(recs) != 11 {
		t.Fatalf("%d records written of 1000 debug and 1 warn, want the burst of 10 and the warn", len(recs))
	}
	if last := recs[10]; last["level"] != "WARN" || last[LogKeyDebugSuppressed] != float64(990) {
		t.Fatalf("the warn after the flood: %v, want debug_suppressed 990", last)
	}

	buf.Reset()
	now = now.Add(time.Second)
	logger.Debug("after a second")
	recs = jsonLines(t, buf.String())
	if len(recs) != 1 || recs[0]["msg"] != "after a second" || recs[0][LogKeyDebugSuppressed] != nil {
		t.Fatalf("a second later: %v", recs)
	}
}

// TestDebugBoundOnlyWhenDebugIsOn: at info the bound costs nothing and changes nothing.
func TestDebugBoundOnlyWhenDebugIsOn(t *testing.T) {
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, "info", "text", DebugPerSecond(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := logger.Handler().(*debugLimitHandler); ok {
		t.Error("the debug bound is installed at level info")
	}
	for range 5 {
		logger.Info("info line")
	}
	if n := strings.Count(buf.String(), "info line"); n != 5 {
		t.Errorf("%d info lines of 5", n)
	}
}

func TestNewLoggerRejects(t *testing.T) {
	if _, err := NewLogger(&bytes.Buffer{}, "verbose", "text"); err == nil || !strings.Contains(err.Error(), `"verbose"`) {
		t.Errorf("level verbose: %v", err)
	}
	if _, err := NewLogger(&bytes.Buffer{}, "info", "xml"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("format xml: %v", err)
	}
}

// TestRewriteLevels: a rule lowers the level of the records it knows; a record lowered below
// the logger's level is dropped, one lowered to a level still on is written at it.
func TestRewriteLevels(t *testing.T) {
	for _, level := range []string{"info", "debug"} {
		var buf bytes.Buffer
		logger, err := NewLogger(&buf, level, "json")
		if err != nil {
			t.Fatal(err)
		}
		lib := slog.New(RewriteLevels(logger.Handler(), func(r slog.Record) slog.Level {
			if r.Message == "normal" {
				return slog.LevelDebug
			}
			return r.Level
		})).With("component", "lib")
		lib.Error("normal")
		lib.Error("real trouble")
		recs := jsonLines(t, buf.String())
		want := map[string]string{"real trouble": "ERROR"}
		if level == "debug" {
			want["normal"] = "DEBUG"
		}
		if len(recs) != len(want) {
			t.Fatalf("at %s: %v", level, recs)
		}
		for _, r := range recs {
			if want[r["msg"].(string)] != r["level"] || r["component"] != "lib" {
				t.Errorf("at %s: %v", level, r)
			}
		}
	}
}

// TestShutdownFlushBounded: with a collector that does not answer, Shutdown gives up on the
// buffered spans after the flush timeout and says so, rather than waiting for the exporter's
// retries (a minute) or the caller's whole grace period.
func TestShutdownFlushBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: every export fails and is retried

	clock := clockwork.NewFakeClock()
	tel, err := Setup(context.Background(), Config{Clock: clock, Traces: TracesConfig{
		Exporter: ExporterOTLPGRPC, Endpoint: addr, SampleRatio: 1, FlushTimeout: 2 * time.Second,
	}}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	if got := tel.TracesDestination(); got != "otlp-grpc "+addr {
		t.Errorf("TracesDestination %q", got)
	}
	_, span := tel.StartSigninSpan(context.Background(), "app-1", "1.2")
	span.End()
	// The caller's context has no deadline: only the flush timeout can end this.
	done := make(chan error, 1)
	go func() { done <- tel.Shutdown(context.Background()) }()
	waitCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := clock.BlockUntilContext(waitCtx, 1); err != nil {
		t.Fatal("Shutdown never armed its flush bound")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned before its flush bound, with an unreachable collector: %v", err)
	default:
	}
	clock.Advance(2 * time.Second)
	select {
	case err = <-done:
	case <-waitCtx.Done():
		t.Fatal("Shutdown still waits after its flush bound")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "traces not all exported to otlp-grpc "+addr) {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestTracesDestination(t *testing.T) {
	var nilTel *Telemetry
	if got := nilTel.TracesDestination(); got != "off" {
		t.Errorf("nil: %q", got)
	}
	for cfg, want := range map[TracesConfig]string{
		{Exporter: ExporterNone}:                                              "off",
		{Exporter: ExporterStdout, SampleRatio: 1}:                            "stdout",
		{Exporter: ExporterOTLPHTTP, SampleRatio: 0.25}:                       "otlp-http 127.0.0.1:4318 (sampling 0.25 of new traces)",
		{Exporter: ExporterOTLPGRPC, Endpoint: "jaeger:4317", SampleRatio: 1}: "otlp-grpc jaeger:4317",
	} {
		cfg.Stdout = &bytes.Buffer{}
		tel, err := Setup(context.Background(), Config{Traces: cfg}, quietLogger)
		if err != nil {
			t.Fatal(err)
		}
		if got := tel.TracesDestination(); got != want {
			t.Errorf("%+v: %q, want %q", cfg, got, want)
		}
		_ = tel.Shutdown(context.Background())
	}
}
