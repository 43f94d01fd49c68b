package telemetry

import (
	"context"
	"io"
	"net/http"
	"testing"
)

// TestHandleMountsBesideMetrics: a handler mounted after Setup is served on metrics_listen,
// and /up still answers.
func TestHandleMountsBesideMetrics(t *testing.T) {
	tel, err := Setup(context.Background(), Config{MetricsListen: "127.0.0.1:0"}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()
	tel.Handle("/extra/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("mounted")) }))
	for path, want := range map[string]string{"/extra/page": "mounted", "/up": "up\n"} {
		res, err := http.Get("http://" + tel.MetricsAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("GET %s: %d %q, want %q", path, res.StatusCode, body, want)
		}
	}
	var none *Telemetry
	none.Handle("/x/", http.NotFoundHandler()) // a nil Telemetry mounts nothing, without a panic
}

// TestSampledTraceID: the console shows a trace id only for a sampled trace.
func TestSampledTraceID(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	cases := map[string]string{
		"00-" + id + "-00f067aa0ba902b7-01": id,
		"00-" + id + "-00f067aa0ba902b7-00": "",
		"garbage":                           "",
	}
	for traceparent, want := range cases {
		if got := SampledTraceID(map[string]string{"traceparent": traceparent}); got != want {
			t.Errorf("%s: %q, want %q", traceparent, got, want)
		}
	}
	if SampledTraceID(nil) != "" {
		t.Error("no trace, no id")
	}
}
