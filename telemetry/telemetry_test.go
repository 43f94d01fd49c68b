package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// setupTracing returns a Telemetry whose spans go to an in-memory recorder.
func setupTracing(t *testing.T) (*Telemetry, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tel, err := Setup(context.Background(), Config{Traces: TracesConfig{SampleRatio: 1}}, quietLogger, WithSpanProcessor(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel, rec
}

func setupMetrics(t *testing.T) *Telemetry {
	t.Helper()
	tel, err := Setup(context.Background(), Config{MetricsListen: "127.0.0.1:0"}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

func attrOf(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestInjectExtractRoundTrip(t *testing.T) {
	tel, _ := setupTracing(t)
	ctx, span := tel.StartPublishSpan(context.Background(), "app-1", "my-channel", "my-event")
	defer span.End()

	carrier := Inject(ctx)
	if !strings.HasPrefix(carrier["traceparent"], "00-"+span.SpanContext().TraceID().String()) {
		t.Fatalf("traceparent %q does not name trace %s", carrier["traceparent"], span.SpanContext().TraceID())
	}
	got := trace.SpanContextFromContext(Extract(carrier))
	want := span.SpanContext()
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || got.TraceFlags() != want.TraceFlags() {
		t.Fatalf("extracted %v, want %v", got, want)
	}
	if !got.IsRemote() {
		t.Fatal("extracted span context should be remote")
	}
}

func TestTraceContextHelpersDoNotAllocateWhenOff(t *testing.T) {
	off, err := Setup(context.Background(), Config{}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Shutdown(context.Background())
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tel  *Telemetry
	}{{"exporter none", off}, {"nil Telemetry", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			var carrier map[string]string
			allocs := testing.AllocsPerRun(1000, func() {
				carrier = Inject(ctx)
				c := Extract(carrier)
				c, span := tc.tel.StartPublishSpan(c, "app", "channel", "event")
				c, fanout := tc.tel.StartFanoutSpan(c, "app", "channel", "node")
				EndFanoutSpan(fanout, 10, 1000)
				_, ev := tc.tel.StartClientEventSpan(c, "app", "private-c", "client-e", "1.2")
				EndSpan(ev, nil)
				span.End()
			})
			if allocs != 0 {
				t.Errorf("%v allocations per run, want 0", allocs)
			}
			if carrier != nil {
				t.Errorf("Inject without a span = %v, want nil", carrier)
			}
		})
	}
}

func TestHTTPServerSpanContinuesTraceparent(t *testing.T) {
	tel, rec := setupTracing(t)
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

	var inner map[string]string
	mux := http.NewServeMux()
	mux.Handle("POST /apps/{app}/events", tel.WrapHTTP("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = Inject(r.Context()) // what the handler passes on to the actors
		w.WriteHeader(http.StatusAccepted)
	})))
	req := httptest.NewRequest(http.MethodPost, "/apps/app-1/events?auth_signature=secret", strings.NewReader("{}"))
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	mux.ServeHTTP(httptest.NewRecorder(), req)

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans ended, want 1", len(spans))
	}
	s := spans[0]
	if s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != parentID || !s.Parent().IsRemote() {
		t.Fatalf("span trace %s parent %s, want trace %s parent %s (remote)",
			s.SpanContext().TraceID(), s.Parent().SpanID(), traceID, parentID)
	}
	if s.SpanKind() != trace.SpanKindServer || s.Name() != "POST /apps/{app}/events" {
		t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
	}
	for key, want := range map[attribute.Key]string{
		KeyHTTPMethod: "POST", KeyHTTPRoute: "/apps/{app}/events", KeyAppID: "app-1", KeyHTTPStatus: "202",
	} {
		if v, ok := attrOf(s, key); !ok || v.Emit() != want {
			t.Errorf("attribute %s = %q, want %q", key, v.Emit(), want)
		}
	}
	for _, kv := range s.Attributes() {
		if strings.Contains(kv.Value.Emit(), "secret") {
			t.Errorf("attribute %s leaks the query: %s", kv.Key, kv.Value.Emit())
		}
	}
	if !strings.Contains(inner["traceparent"], traceID+"-"+s.SpanContext().SpanID().String()) {
		t.Errorf("handler context carries %v, want the server span", inner)
	}
}

func TestSpanParentingAcrossMessages(t *testing.T) {
	tel, rec := setupTracing(t)
	ctx, publish := tel.StartPublishSpan(context.Background(), "app-1", "presence-room", "news")
	msgTrace := Inject(ctx) // the Deliver message's trace map
	publish.End()

	// On the receiving actor (maybe another node): only the map crosses.
	_, fanout := tel.StartFanoutSpan(Extract(msgTrace), "app-1", "presence-room", "node-b")
	EndFanoutSpan(fanout, 3, 300)

	// A frame no traced request caused starts no trace of its own.
	_, orphan := tel.StartFanoutSpan(Extract(nil), "app-1", "presence-room", "node-b")
	EndFanoutSpan(orphan, 3, 300)

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2 (publish, fanout)", len(spans))
	}
	p, f := spans[0], spans[1]
	if f.Parent().SpanID() != p.SpanContext().SpanID() || f.SpanContext().TraceID() != p.SpanContext().TraceID() {
		t.Fatalf("fanout parent %s trace %s, want publish %s trace %s",
			f.Parent().SpanID(), f.SpanContext().TraceID(), p.SpanContext().SpanID(), p.SpanContext().TraceID())
	}
	if p.SpanKind() != trace.SpanKindProducer || f.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("kinds publish %v fanout %v", p.SpanKind(), f.SpanKind())
	}
	for key, want := range map[attribute.Key]int64{KeyRecipients: 3, KeyFanoutBytes: 300} {
		if v, ok := attrOf(f, key); !ok || v.AsInt64() != want {
			t.Errorf("fanout %s = %v, want %d", key, v.Emit(), want)
		}
	}
	if v, _ := attrOf(p, KeyEvent); v.AsString() != "news" {
		t.Errorf("publish %s = %q", KeyEvent, v.AsString())
	}
}

func TestWebhookSpanSetsTraceparent(t *testing.T) {
	tel, rec := setupTracing(t)
	var got string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
	}))
	defer target.Close()
	u := strings.Replace(target.URL, "http://", "http://user:pass@", 1) + "/hook?token=t0ken"

	ctx, span := tel.StartWebhookSpan(context.Background(), "app-1", u, 2)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target.URL, nil)
	InjectHTTP(ctx, req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	EndWebhookSpan(span, res.StatusCode, nil)

	s := rec.Ended()[0]
	if !strings.Contains(got, s.SpanContext().SpanID().String()) {
		t.Errorf("target got traceparent %q, want span %s", got, s.SpanContext().SpanID())
	}
	if s.SpanKind() != trace.SpanKindClient {
		t.Errorf("kind %v", s.SpanKind())
	}
	for _, kv := range s.Attributes() {
		if v := kv.Value.Emit(); strings.Contains(v, "pass") || strings.Contains(v, "t0ken") {
			t.Errorf("attribute %s leaks the URL's secrets: %s", kv.Key, v)
		}
	}
	if v, _ := attrOf(s, KeyServerAddress); v.AsString() != "127.0.0.1" {
		t.Errorf("server.address %q", v.AsString())
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rr.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rr.Code)
	}
	return rr.Body.String()
}

// hasLine tells whether text has the line want, or a line starting with want when want ends
// in a space (a name whose value varies).
func hasLine(text, want string) bool {
	for _, line := range strings.Split(text, "\n") {
		if line == want || (strings.HasSuffix(want, " ") && strings.HasPrefix(line, want)) {
			return true
		}
	}
	return false
}

func TestMetricsExposition(t *testing.T) {
	tel := setupMetrics(t)
	m := tel.Metrics()
	a := m.App("app-1")
	a.Connected()
	a.Connected()
	a.Disconnected(4201)
	a.Disconnected(3999) // a client's own code: not a label value of its own
	a.AddSubscriptions("presence", 2)
	a.AddOccupiedChannels(1)
	a.AddPresenceMembers(1)
	a.AddMessagesIn(KindClientEvent, 1)
	a.AddMessagesIn(KindAPIEvent, 1)
	a.AddMessagesOut(KindAPIEvent, 5)
	a.AddBytesIn(10)
	a.AddBytesOut(500)
	a.RecordDeliveryLatency(3 * time.Millisecond)
	a.RecordDeliverySince(time.Now().Add(-time.Millisecond).UnixNano())
	a.AddWebhookEventsSent(2)
	a.AddWebhookPostFailed()
	a.AddWebhookPostRetried()
	a.AddWebhookEventsDropped(1)
	a.AddWebhookEventsQueued(4)
	a.AddWebhookRetryBacklog(3)
	a.ObserveWebhookOldestUndelivered(func() time.Duration { return 2500 * time.Millisecond })
	m.App("app-2").ObserveWebhookOldestUndelivered(func() time.Duration { return -time.Second }) // a clock step back reads 0
	a.AddSlowConsumerDisconnect()
	m.RecordHTTPRequest("/apps/{app}/events", 200, 2*time.Millisecond)
	m.SetClusterMembers(3)
	m.ObserveWriteDelay(func() time.Duration { return 250 * time.Millisecond })
	m.AddBackpressure(false)
	m.AddBackpressure(true)
	m.AddBackpressure(true)

	text := scrape(t, tel.Handler())
	for _, want := range []string{
		`# TYPE herald_connections gauge`,
		`herald_connections{app="app-1"} 0`,
		`# TYPE herald_connects_total counter`,
		`herald_connects_total{app="app-1"} 2`,
		`herald_disconnects_total{app="app-1",code="4201"} 1`,
		`herald_disconnects_total{app="app-1",code="other"} 1`,
		`herald_subscriptions{app="app-1",kind="presence"} 2`,
		`herald_occupied_channels{app="app-1"} 1`,
		`herald_presence_members{app="app-1"} 1`,
		`herald_messages_received_total{app="app-1",kind="client_event"} 1`,
		`herald_messages_received_total{app="app-1",kind="api_event"} 1`,
		`herald_messages_sent_total{app="app-1",kind="api_event"} 5`,
		`herald_received_bytes_total{app="app-1"} 10`,
		`herald_sent_bytes_total{app="app-1"} 500`,
		`# TYPE herald_delivery_latency_seconds histogram`,
		`herald_delivery_latency_seconds_bucket{app="app-1",le="0.0005"} 0`,
		`herald_delivery_latency_seconds_bucket{app="app-1",le="0.005"} 2`,
		`herald_delivery_latency_seconds_bucket{app="app-1",le="10"} 2`,
		`herald_delivery_latency_seconds_count{app="app-1"} 2`,
		`herald_http_requests_total{endpoint="/apps/{app}/events",status="200"} 1`,
		`herald_http_request_duration_seconds_count{endpoint="/apps/{app}/events",status="200"} 1`,
		`herald_webhook_events_sent_total{app="app-1"} 2`,
		`herald_webhook_posts_failed_total{app="app-1"} 1`,
		`herald_webhook_posts_retried_total{app="app-1"} 1`,
		`herald_webhook_events_dropped_total{app="app-1"} 1`,
		`herald_webhook_events_queued{app="app-1"} 4`,
		`# TYPE herald_webhook_retry_backlog gauge`,
		`herald_webhook_retry_backlog{app="app-1"} 3`,
		`# TYPE herald_webhook_oldest_undelivered_seconds gauge`,
		`herald_webhook_oldest_undelivered_seconds{app="app-1"} 2.5`,
		`herald_webhook_oldest_undelivered_seconds{app="app-2"} 0`,
		`herald_slow_consumer_disconnects_total{app="app-1"} 1`,
		`herald_cluster_members 3`,
		`# TYPE herald_write_delay_seconds gauge`,
		`herald_write_delay_seconds 0.25`,
		`herald_http_backpressure_total{outcome="taken"} 1`,
		`herald_http_backpressure_total{outcome="refused"} 2`,
		`go_goroutines `,
	} {
		if !hasLine(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "otel_scope") {
			t.Errorf("scope labels should be off: %s", line)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(line, "# TYPE "), "# HELP "), " ")
		name, _, _ = strings.Cut(name, "{")
		if strings.HasPrefix(name, "herald") && (strings.Contains(name, "_total_") || strings.HasSuffix(name, "_bytes_bytes")) {
			t.Errorf("badly suffixed name %s", name)
		}
	}
	if t.Failed() {
		t.Log(text)
	}

	// The same text on the real listener.
	res, err := http.Get("http://" + tel.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `herald_connects_total{app="app-1"} 2`) {
		t.Errorf("listener %s does not serve the metrics", tel.MetricsAddr())
	}
}

func TestReadyFlipsTo503(t *testing.T) {
	tel := setupMetrics(t)
	get := func(path string) int {
		res, err := http.Get("http://" + tel.MetricsAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if up, ready := get("/up"), get("/ready"); up != 200 || ready != 200 {
		t.Fatalf("before: /up %d /ready %d, want 200 200", up, ready)
	}
	tel.SetReady(false)
	if up, ready := get("/up"), get("/ready"); up != 200 || ready != 503 {
		t.Fatalf("after SetReady(false): /up %d /ready %d, want 200 503", up, ready)
	}
	tel.SetReady(true)
	if ready := get("/ready"); ready != 200 {
		t.Fatalf("after SetReady(true): /ready %d", ready)
	}
}

func TestLoggerAddsTraceID(t *testing.T) {
	tel, _ := setupTracing(t)
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tel.StartSubscribeSpan(context.Background(), "app-1", "my-channel", "1.2")
	defer span.End()
	logger.With("component", "test").InfoContext(ctx, "traced")
	logger.Info("untraced")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %s", len(lines), buf.String())
	}
	var traced, untraced map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &traced); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &untraced); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	if traced[LogKeyTraceID] != sc.TraceID().String() || traced[LogKeySpanID] != sc.SpanID().String() {
		t.Errorf("traced record %v, want trace_id %s span_id %s", traced, sc.TraceID(), sc.SpanID())
	}
	if _, ok := untraced[LogKeyTraceID]; ok {
		t.Errorf("untraced record has a trace_id: %v", untraced)
	}
}

func TestStdoutExporterFlushesOnShutdown(t *testing.T) {
	var buf bytes.Buffer
	tel, err := Setup(context.Background(), Config{Traces: TracesConfig{Exporter: "stdout", Stdout: &buf, SampleRatio: 1}}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.StartSigninSpan(context.Background(), "app-1", "1.2")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"pusher.signin"`) {
		t.Fatalf("stdout exporter wrote %q", buf.String())
	}
}

func TestOTLPHTTPExporterSendsSpans(t *testing.T) {
	got := make(chan string, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path
	}))
	defer collector.Close()
	cfg := Config{NodeName: "node-a", Traces: TracesConfig{Exporter: ExporterOTLPHTTP, Endpoint: strings.TrimPrefix(collector.URL, "http://"), SampleRatio: 1}}
	tel, err := Setup(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.StartSubscribeSpan(context.Background(), "app-1", "c", "1.2")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case path := <-got:
		if path != "/v1/traces" {
			t.Errorf("posted to %s", path)
		}
	default:
		t.Fatal("Shutdown returned before the span was exported")
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		in                Config
		exporter, endpoin string
		ratio             float64
		err               bool
	}{
		{in: Config{}, exporter: "none"},
		{in: Config{Traces: TracesConfig{Exporter: "otlp-grpc", SampleRatio: 1}}, exporter: "otlp-grpc", endpoin: "127.0.0.1:4317", ratio: 1},
		{in: Config{Traces: TracesConfig{Exporter: "OTLP-HTTP", SampleRatio: 0.25}}, exporter: "otlp-http", endpoin: "127.0.0.1:4318", ratio: 0.25},
		{in: Config{Traces: TracesConfig{Exporter: "otlp-grpc", Endpoint: "10.0.0.1:1234", SampleRatio: 1}}, exporter: "otlp-grpc", endpoin: "10.0.0.1:1234", ratio: 1},
		{in: Config{Traces: TracesConfig{Exporter: "jaeger"}}, err: true},
		{in: Config{Traces: TracesConfig{Exporter: "stdout", SampleRatio: 1.5}}, err: true},
		{in: Config{Traces: TracesConfig{Exporter: "stdout", SampleRatio: -1}}, err: true},
		{in: Config{Traces: TracesConfig{Exporter: "stdout"}}, err: true}, // a ratio of 0 records nothing
	} {
		got, err := tc.in.checked()
		if (err != nil) != tc.err {
			t.Errorf("%+v: err %v", tc.in, err)
			continue
		}
		if tc.err {
			continue
		}
		if got.Traces.Exporter != tc.exporter || got.Traces.Endpoint != tc.endpoin || got.Traces.SampleRatio != tc.ratio {
			t.Errorf("%+v: got %+v", tc.in, got)
		}
	}
}

func TestMetricsListenBusyIsAnError(t *testing.T) {
	tel := setupMetrics(t)
	if _, err := Setup(context.Background(), Config{MetricsListen: tel.MetricsAddr()}, quietLogger); err == nil {
		t.Fatal("Setup on a busy port succeeded")
	}
}

func TestDisabledMetricsAreNoOps(t *testing.T) {
	tel, err := Setup(context.Background(), Config{}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if tel.Metrics() != nil || tel.MetricsAddr() != "" {
		t.Fatal("metrics should be off without MetricsListen")
	}
	a := tel.Metrics().App("app-1")
	allocs := testing.AllocsPerRun(1000, func() {
		a.Connected()
		a.AddMessagesOut(KindAPIEvent, 10)
		a.AddBytesOut(1000)
		a.RecordDeliverySince(1)
		a.AddWebhookRetryBacklog(1)
		a.ObserveWebhookOldestUndelivered(nil)
		tel.Metrics().RecordHTTPRequest("/x", 200, time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run with metrics off", allocs)
	}
	rr := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/up", nil))
	if rr.Code != 200 {
		t.Errorf("/up %d", rr.Code)
	}
}

func TestHotPathMetricsDoNotAllocate(t *testing.T) {
	a := setupMetrics(t).Metrics().App("app-1")
	accepted := time.Now().UnixNano()
	allocs := testing.AllocsPerRun(1000, func() {
		a.AddMessagesOut(KindClientEvent, 100)
		a.AddBytesOut(100 * 64)
		a.RecordDeliverySince(accepted)
		a.RecordDeliveryLatency(time.Millisecond)
		a.AddBytesIn(64)
		a.AddMessagesIn(KindSubscribe, 1)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
}

func BenchmarkHotPathMetrics(b *testing.B) {
	tel, err := Setup(context.Background(), Config{MetricsListen: "127.0.0.1:0"}, quietLogger)
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	a := tel.Metrics().App("app-1")
	accepted := time.Now().UnixNano()
	b.Run("AddBytesOut", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.AddBytesOut(64)
		}
	})
	b.Run("AddMessagesOut", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.AddMessagesOut(KindAPIEvent, 1)
		}
	})
	b.Run("RecordDeliverySince", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.RecordDeliverySince(accepted)
		}
	})
	b.Run("RecordDeliverySince/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a.RecordDeliverySince(accepted)
			}
		})
	})
	b.Run("AddBytesOut/off", func(b *testing.B) {
		var off *AppMetrics
		b.ReportAllocs()
		for b.Loop() {
			off.AddBytesOut(64)
		}
	})
}

func BenchmarkTraceContextOff(b *testing.B) {
	ctx := context.Background()
	var tel *Telemetry
	b.ReportAllocs()
	for b.Loop() {
		c, span := tel.StartFanoutSpan(Extract(Inject(ctx)), "app", "channel", "node")
		EndFanoutSpan(span, 1, 1)
		_ = c
	}
}

// TestJaegerReceivesTraces sends a trace over OTLP gRPC to a running Jaeger and finds it through
// the query API. It runs when HERALD_JAEGER_QUERY is set, e.g. after `go tool task
// telemetry:jaeger`: HERALD_JAEGER_QUERY=http://127.0.0.1:16686.
func TestJaegerReceivesTraces(t *testing.T) {
	query := os.Getenv("HERALD_JAEGER_QUERY")
	if query == "" {
		t.Skip("HERALD_JAEGER_QUERY not set (start Jaeger with go tool task telemetry:jaeger)")
	}
	service := "herald-telemetry-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tel, err := Setup(context.Background(), Config{ServiceName: service, NodeName: "node-a",
		Traces: TracesConfig{Exporter: ExporterOTLPGRPC, SampleRatio: 1}}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, publish := tel.StartPublishSpan(context.Background(), "app-1", "my-channel", "my-event")
	_, fanout := tel.StartFanoutSpan(Extract(Inject(ctx)), "app-1", "my-channel", "node-a")
	EndFanoutSpan(fanout, 2, 100)
	publish.End()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(shutdownCtx); err != nil {
		t.Fatal(err)
	}
	traceID := publish.SpanContext().TraceID().String()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(query + "/api/traces/" + traceID)
		if err == nil {
			var body struct {
				Data []struct {
					Spans []struct {
						OperationName string `json:"operationName"`
					} `json:"spans"`
				} `json:"data"`
			}
			decodeErr := json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			if decodeErr == nil && len(body.Data) == 1 && len(body.Data[0].Spans) == 2 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s of service %s not in Jaeger at %s (last error %v)", traceID, service, query, err)
		}
		time.Sleep(200 * time.Millisecond) // Jaeger indexes asynchronously; nothing to await
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		cfg := Config{ServiceName: "herald", MetricsListen: "127.0.0.1:0"}
		cfg.Pprof = enabled
		tel, err := Setup(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		tel.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
		if got := rec.Code == http.StatusOK; got != enabled {
			t.Fatalf("pprof enabled=%v: /debug/pprof/ answered %d", enabled, rec.Code)
		}
		_ = tel.Shutdown(context.Background())
	}
}
