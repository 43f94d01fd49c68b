package transport_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
	"github.com/herald-io/herald/transport"
)

// syncBuffer is a log destination written by many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDebugLines: at log level debug, a connect, a subscribe, a refused subscription, a
// trigger, a refused signature, a refused app key and a close each give a line saying what
// happened, to whom, and why; no line holds the app's secret.
func TestDebugLines(t *testing.T) {
	var logs syncBuffer
	logger, err := telemetry.NewLogger(&logs, "debug", "text")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	app := newApp("debug-app", func(a *configs.App) { a.Secret = "debug-secret-0123456789" })
	ws, httpBase, _, _ := startServerWith(t, testOpts{deps: transport.Deps{Logger: logger}}, app)

	c := dial(t, ws, app)
	subscribePublic(t, c, "news")
	subscriptionError(t, c, "private-x", "debug-app-key:bad", "")
	api := apiFor(httpBase, app)
	barrier(t, api, "news", c)
	wrong := apiFor(httpBase, app)
	wrong.App.Secret = "not-the-secret-at-all"
	if status, _ := apiDo(t, wrong, http.MethodGet, wrong.AppPath("/channels"), nil, nil); status != http.StatusUnauthorized {
		t.Fatalf("wrong signature: %d", status)
	}
	refused := dialRaw(t, ws, "/app/no-such-key?protocol=7", 0)
	refused.expectEvent(t, "pusher:error")
	_ = c.Close()

	want := []string{
		`msg="connection opened" app=debug-app socket_id=`,
		`msg=subscribed app=debug-app socket_id=`, `channel=news`,
		`msg="subscription refused" app=debug-app`, `channel=private-x type=AuthError status=401`,
		`msg="http api" method=POST path=/apps/debug-app/events status=200 remote=127.0.0.1:`,
		`msg="http api" method=GET path=/apps/debug-app/channels status=401`, `invalid auth_signature`,
		`msg="connection refused" code=4001 reason="App key no-such-key does not exist" path=/app/no-such-key remote=127.0.0.1:`,
	}
	eventually(t, "the debug lines", func() bool {
		out := logs.String()
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false
			}
		}
		return strings.Contains(out, `msg="connection closed" app=debug-app`)
	})
	for _, secret := range []string{app.Secret, wrong.App.Secret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a debug line shows a secret:\n%s", logs.String())
		}
	}
}
