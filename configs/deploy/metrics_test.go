package deploy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// defaultApp is the embedded default app's credentials.
var defaultApp = app{id: "app-id", key: "app-key", secret: "app-secret"}

// TestMetricsExistOnLiveHerald: every metric (and label) that the dashboard and the alert
// rules query is on the /metrics of a running herald that has seen some traffic: sockets,
// subscriptions, a presence member, triggers, a slow consumer, and webhooks that succeed and
// fail until they are dropped (herald only exports a series once it has a value).
func TestMetricsExistOnLiveHerald(t *testing.T) {
	var delivered, failed atomic.Int64
	okHook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		delivered.Add(1)
	}))
	t.Cleanup(okHook.Close)
	failingHook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		failed.Add(1)
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failingHook.Close)

	// The default app (its credentials come from the embedded defaults), with two webhook
	// targets; a failing batch is retried within 100 ms, then dropped. Small write queues make
	// a slow consumer quickly.
	cfg := fmt.Sprintf(`
write_queue_bytes: 65536
webhooks:
  batch_window: 10ms
  initial_backoff: 20ms
  max_backoff: 40ms
  retry_for: 100ms
apps:
  - id: %s
    key: %s
    secret: %s
    webhooks:
      - url: %s
        event_types: [channel_occupied, channel_vacated, member_added, member_removed]
      - url: %s
        event_types: [channel_occupied]
`, defaultApp.id, defaultApp.key, defaultApp.secret, okHook.URL, failingHook.URL)
	path := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(heraldBinary(t), "--config", path, "--listen", "127.0.0.1:0")
	cmd.Env = append(cleanEnv(), "HERALD_METRICS_LISTEN=127.0.0.1:0")
	p := startHerald(t, cmd)

	// A subscriber of a public and a presence channel, and a trigger it receives.
	sub := connect(t, p.wsBase(), defaultApp.key, 0)
	sub.subscribe(t, "deploy-public", "", "")
	member := `{"user_id":"u1","user_info":{"name":"one"}}`
	sub.subscribe(t, "presence-deploy", defaultApp.channelAuth(sub.socketID, "presence-deploy", member), member)
	defaultApp.trigger(t, p.httpBase(), "deploy-public", "greeting", "hello")
	sub.expect(t, "greeting", "deploy-public")

	// A slow consumer: it subscribes with a tiny receive buffer and never reads again, while
	// 100 KB batches go to its channel until herald closes it.
	slow := connect(t, p.wsBase(), defaultApp.key, 4096)
	slow.subscribe(t, "deploy-firehose", "", "")
	payload := strings.Repeat("x", 9000)
	batch := make([]map[string]string, 10)
	for i := range batch {
		batch[i] = map[string]string{"channel": "deploy-firehose", "name": "big", "data": payload}
	}
	scrape := func() exposition {
		code, body := httpGet(t, p.metricsBase()+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics: %d", code)
		}
		e, err := parseExposition(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	closed := false
	for i := 0; i < 400 && !closed; i++ { // at most 40 MB
		defaultApp.post(t, p.httpBase(), "/apps/"+defaultApp.id+"/batch_events", map[string]any{"batch": batch})
		if i%5 == 4 {
			_, closed = scrape().samples["herald_slow_consumer_disconnects_total"]
		}
	}
	if !closed {
		t.Fatal("herald did not close a client that stopped reading after 40 MB of events")
	}

	// A socket that leaves (disconnects by code), and the webhooks: one target answers, the
	// other fails until its batch is dropped.
	_ = slow.conn.CloseNow()
	eventually(t, "webhooks delivered, failed, retried and dropped", func() bool {
		e := scrape()
		for _, m := range []string{"herald_webhook_events_sent_total", "herald_webhook_posts_failed_total",
			"herald_webhook_posts_retried_total", "herald_webhook_events_dropped_total", "herald_webhook_events_queued"} {
			if _, ok := e.samples[m]; !ok {
				return false
			}
		}
		return true
	})
	if delivered.Load() == 0 || failed.Load() < 2 {
		t.Fatalf("webhook receivers got %d good and %d failed POSTs; want some of each, the failed one retried", delivered.Load(), failed.Load())
	}

	e := scrape()
	queries := append(dashboardQueries(t), ruleQueries(t)...)
	if len(queries) < 20 {
		t.Fatalf("only %d queries found in the dashboard and the rules", len(queries))
	}
	if problems := e.missing(queries); len(problems) > 0 {
		var names []string
		for n := range e.samples {
			if strings.HasPrefix(n, "herald_") {
				names = append(names, n)
			}
		}
		t.Fatalf("what the dashboard and rules need, and /metrics lacks:\n  %s\nherald's metrics: %v",
			strings.Join(problems, "\n  "), names)
	}
	// The histogram the latency panels and alert rest on is one.
	if e.types["herald_delivery_latency_seconds"] != "histogram" {
		t.Errorf("herald_delivery_latency_seconds is a %q, want histogram", e.types["herald_delivery_latency_seconds"])
	}
	t.Logf("%d queries checked against %d sample names", len(queries), len(e.samples))
}
