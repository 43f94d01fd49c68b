package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
)

// scrapeMetrics is tel's /metrics text.
func scrapeMetrics(t *testing.T, tel *telemetry.Telemetry) string {
	t.Helper()
	rr := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rr.Body.String()
}

// fakeLoad is a queueing delay the test sets.
type fakeLoad struct{ d atomic.Int64 }

func (f *fakeLoad) delay(time.Time) time.Duration { return time.Duration(f.d.Load()) }

// TestBackpressure: a trigger while the sockets are more than backpressure.max_delay behind
// waits for them; one that waits backpressure.max_wait in vain is refused with 503, a JSON
// error and Retry-After, and its event is not taken. On the server's clock, which the test moves.
func TestBackpressure(t *testing.T) {
	cfg := configs.Default()
	app := configs.DefaultApp("1", "1-key", "1-secret")
	cfg.Apps = []configs.App{app}
	clock := clockwork.NewFakeClockAt(time.Now().Truncate(time.Second))
	eng, err := actors.New(cfg, actors.Deps{}) // the real clock: the fake one is the server's alone
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Shutdown)
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{MetricsListen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	srv, err := New(eng, cfg, Deps{Clock: clock, Telemetry: tel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.writers.close)
	load := &fakeLoad{}
	srv.load = load
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	api := &pusherclient.API{BaseURL: ts.URL, App: pusherclient.App{ID: app.ID, Key: app.Key, Secret: app.Secret},
		Now: clock.Now}
	trigger := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := api.Trigger(context.Background(), []string{"news"}, "e", "{}", pusherclient.TriggerOptions{})
			done <- err
		}()
		return done
	}

	if err := <-trigger(); err != nil {
		t.Fatalf("not behind: %v", err)
	}

	load.d.Store(int64(cfg.Backpressure.MaxDelay + time.Millisecond))
	waiting := trigger()
	if err := clock.BlockUntilContext(context.Background(), 1); err != nil { // it waits on the clock
		t.Fatal(err)
	}
	load.d.Store(int64(cfg.Backpressure.MaxDelay)) // caught up
	clock.Advance(backpressurePoll)
	if err := <-waiting; err != nil {
		t.Fatalf("caught up while it waited: %v", err)
	}

	load.d.Store(int64(time.Second))
	refused := trigger()
	for waited := time.Duration(0); waited < cfg.Backpressure.MaxWait; waited += backpressurePoll {
		if err := clock.BlockUntilContext(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(backpressurePoll)
	}
	err = <-refused
	apiErr, ok := err.(*pusherclient.APIError)
	if !ok || apiErr.Status != http.StatusServiceUnavailable {
		t.Fatalf("behind for max_wait: %v, want 503", err)
	}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(apiErr.Body), &body) != nil || body.Error == "" {
		t.Fatalf("503 body %q is not {\"error\": ...}", apiErr.Body)
	}
	if apiErr.RetryAfter != time.Second {
		t.Fatalf("Retry-After %v, want 1 s", apiErr.RetryAfter)
	}
	// Both outcomes are counted, and the gauge shows the writers' own delay (none here: the
	// test's delay is a fake load, and nothing was written).
	text := scrapeMetrics(t, tel)
	for _, want := range []string{
		`herald_http_backpressure_total{outcome="taken"} 1`,
		`herald_http_backpressure_total{outcome="refused"} 1`,
		`herald_write_delay_seconds 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Reads are not held back.
	if status, _, err := api.Do(context.Background(), http.MethodGet, api.AppPath("/channels"), url.Values{}, nil); err != nil || status != http.StatusOK {
		t.Fatalf("GET /channels while behind: %d %v", status, err)
	}
}
