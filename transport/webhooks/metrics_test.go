package webhooks

import (
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
)

// TestMetricsMove: the webhook metrics on a real /metrics, through a failure, a drop and the
// retry that delivers.
func TestMetricsMove(t *testing.T) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{MetricsListen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	r := newReceiver(t, func(n int) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}, nil)
	h := start(t, testConfig(func(c *configs.WebhookDelivery) { c.InitialBackoff, c.QueueLimit = 10*time.Second, 1 }), Deps{Telemetry: tel})
	app := hookApp(configs.Webhook{URL: r.url()})

	h.d.Emit(app, occupied("a"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	r.next()
	h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == 1 })
	h.d.Emit(app, occupied("b")) // over queue_limit 1 while "a" waits for its retry
	h.clock.Advance(2 * time.Second)
	checkMetrics(t, tel, map[string]float64{
		"herald_webhook_retry_backlog":              1,
		"herald_webhook_oldest_undelivered_seconds": (h.d.cfg.BatchWindow + 2*time.Second).Seconds(),
		"herald_webhook_events_queued":              1,
		"herald_webhook_posts_failed_total":         1,
		"herald_webhook_events_dropped_total":       1,
	})

	h.clock.Advance(h.retryIn(hookAppID, r.url()))
	r.next()
	h.waitStats(hookAppID, func(s Stats) bool { return s.Sent == 1 })
	checkMetrics(t, tel, map[string]float64{
		"herald_webhook_retry_backlog":              0,
		"herald_webhook_oldest_undelivered_seconds": 0,
		"herald_webhook_events_queued":              0,
		"herald_webhook_events_sent_total":          1,
		"herald_webhook_posts_retried_total":        1,
	})
}

// checkMetrics reads /metrics and compares the app's series of each name.
func checkMetrics(t *testing.T, tel *telemetry.Telemetry, want map[string]float64) {
	t.Helper()
	// No keep-alive: the check for goroutines left running counts client connections.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Get("http://" + tel.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, line := range strings.Split(string(text), "\n") {
		series, value, ok := strings.Cut(line, " ")
		name, labels, _ := strings.Cut(series, "{")
		if !ok || labels != `app="`+hookAppID+`"}` {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			got[name] = v
		}
	}
	for name, w := range want {
		if v, ok := got[name]; !ok || math.Abs(v-w) > 1e-9 {
			t.Errorf("%s{app=%q} = %v (present %v), want %v", name, hookAppID, v, ok, w)
		}
	}
}
