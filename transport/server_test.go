package transport_test

import (
	"github.com/jonboulle/clockwork"

	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/transport"
)

var socketIDPattern = regexp.MustCompile(`^\d+\.\d+$`)

func TestConnectionEstablished(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)

	c := dial(t, ws, app)
	est := c.Established()
	if est.Channel != "" {
		t.Errorf("connection_established has channel %q", est.Channel)
	}
	// The protocol double-encodes data: a JSON string holding the object.
	if len(est.Data) == 0 || est.Data[0] != '"' {
		t.Errorf("connection_established data is not a JSON string: %s", est.Raw)
	}
	var data struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout *int   `json:"activity_timeout"`
	}
	if err := est.Decode(&data); err != nil {
		t.Fatalf("decode %s: %v", est.Raw, err)
	}
	if !socketIDPattern.MatchString(data.SocketID) {
		t.Errorf("socket_id %q does not match %s", data.SocketID, socketIDPattern)
	}
	if data.ActivityTimeout == nil || *data.ActivityTimeout != 120 {
		t.Errorf("activity_timeout: got %s, want 120 (the default)", est.Raw)
	}
}

func TestSocketIDsAreUnique(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	seen := map[string]bool{}
	for range 100 {
		c := dial(t, ws, app)
		id := c.SocketID()
		if !socketIDPattern.MatchString(id) {
			t.Fatalf("socket_id %q does not match %s", id, socketIDPattern)
		}
		if seen[id] {
			t.Fatalf("socket_id %q given twice", id)
		}
		seen[id] = true
	}
}

func TestPingPong(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	c := dial(t, ws, app)
	for range 3 {
		pingPong(t, c)
	}
	// Data as pusher-js sends it (a JSON object) and as some clients do (a string, or none).
	for _, frame := range []string{
		`{"event":"pusher:ping","data":"{}"}`,
		`{"event":"pusher:ping"}`,
	} {
		if err := c.SendRaw([]byte(frame)); err != nil {
			t.Fatal(err)
		}
		expectNext(t, c, protocol.EventPong, "")
	}
}

func TestBadFramesKeepConnectionOpen(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	c := dial(t, ws, app)
	for _, frame := range []string{
		`not json`,
		`{"data":{}}`,
		`{"event":"pusher:no_such_event","data":{}}`,
		`{"event":"pusher:subscribe","data":42}`,
		`[1,2,3]`,
	} {
		if err := c.SendRaw([]byte(frame)); err != nil {
			t.Fatal(err)
		}
		expectPusherError(t, c)
	}
	pingPong(t, c)

	// A binary frame, which pusherclient cannot send.
	r := dialRaw(t, ws, appPath(app), 0)
	r.expectEvent(t, protocol.EventConnectionEstablished)
	if err := r.writeFrame(0x2, []byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	r.expectEvent(t, protocol.EventError)
	if err := r.writeText([]byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	r.expectEvent(t, protocol.EventPong)
}

// TestServerPingsSilentClients: a client silent for the activity timeout gets pusher:ping; one
// that answers with pusher:pong stays, one that does not is closed with 4201. The server's clock
// is a fake one, moved by the test: default.yaml's timeouts, no waiting.
func TestServerPingsSilentClients(t *testing.T) {
	app := newApp("1")
	clock := clockwork.NewFakeClock()
	cfg := configs.Default()
	ws, _, _, _ := startServerWith(t, testOpts{deps: transport.Deps{Clock: clock}}, app)
	sweep := max(min(cfg.ActivityTimeout, cfg.PongTimeout)/4, 50*time.Millisecond)

	answering := dialRaw(t, ws, appPath(app), 0) // replies to pusher:ping, not to WebSocket pings
	answering.expectEvent(t, protocol.EventConnectionEstablished)
	silent := dialRaw(t, ws, appPath(app), 0)
	silent.expectEvent(t, protocol.EventConnectionEstablished)
	// NoAutoPong: the pusherclient does not answer pusher:ping (it does answer WebSocket pings).
	noPong := dialOpts(t, ws, app, pusherclient.Options{NoAutoPong: true})

	if err := clock.BlockUntilContext(testCtx(t), 1); err != nil { // the activity sweep's ticker
		t.Fatal(err)
	}
	clock.Advance(cfg.ActivityTimeout + sweep)
	answering.expectEvent(t, protocol.EventPing)
	silent.expectEvent(t, protocol.EventPing)
	expectNext(t, noPong, protocol.EventPing, "")
	if err := answering.writeText(protocol.PongFrame); err != nil {
		t.Fatal(err)
	}
	// A round trip after the pong: the server has read it when this pong comes back.
	if err := answering.writeText([]byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	answering.expectEvent(t, protocol.EventPong)

	clock.Advance(cfg.PongTimeout + sweep)
	m, err := silent.next(waitTimeout)
	if err != nil {
		t.Fatalf("silent client: %v", err)
	}
	if !m.close || m.code != protocol.CodePongNotReceived {
		t.Fatalf("silent client: got %+v (%s), want close %d", m, m.text, protocol.CodePongNotReceived)
	}
	// The answering client is still there, and was not pinged again.
	if err := answering.writeText([]byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatalf("answering client was closed: %v", err)
	}
	m, err = answering.next(waitTimeout)
	if err != nil || m.close || parseRaw(t, m.text).Event != protocol.EventPong {
		t.Fatalf("answering client: got %+v (%s), %v; want pusher:pong", m, m.text, err)
	}
}

// TestMessageOverLimitCloses: a message over the app's max_message_size is refused by the
// WebSocket reader before it is buffered: close 1009 (message too big), as RFC 6455 has it, in
// one frame or in fragments that grow past the limit. A message at the limit is read.
func TestMessageOverLimitCloses(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	limit := defaultLimits.MaxMessageSize
	atLimit := `{"event":"pusher:ping","data":"` + strings.Repeat("x", limit-len(`{"event":"pusher:ping","data":""}`)) + `"}`
	c := dial(t, ws, app)
	if err := c.SendRaw([]byte(atLimit)); err != nil {
		t.Fatal(err)
	}
	expectNext(t, c, protocol.EventPong, "")

	over := dialRaw(t, ws, appPath(app), 0)
	over.expectEvent(t, protocol.EventConnectionEstablished)
	_ = over.writeText([]byte(atLimit + " "))
	if m, err := over.next(waitTimeout); err != nil || !m.close || m.code != 1009 {
		t.Fatalf("one frame over the limit: %+v, %v; want close 1009", m, err)
	}

	fragments := dialRaw(t, ws, appPath(app), 0)
	fragments.expectEvent(t, protocol.EventConnectionEstablished)
	half := []byte(strings.Repeat("x", limit/2+1))
	_ = fragments.writeFragment(0x1, false, half)
	_ = fragments.writeFragment(0x0, false, half)
	if m, err := fragments.next(waitTimeout); err != nil || !m.close || m.code != 1009 {
		t.Fatalf("fragments growing over the limit: %+v, %v; want close 1009", m, err)
	}
}

func TestConnectRefusals(t *testing.T) {
	enabled := newApp("1")
	disabled := newApp("2", func(a *configs.App) { a.Enabled = false })
	ws, _, _, eng := startServer(t, enabled, disabled)
	cases := []struct {
		name, path string
		code       int
	}{
		{"unknown key", "/app/no-such-key?protocol=7", protocol.CodeAppNotFound},
		{"disabled app", "/app/" + disabled.Key + "?protocol=7", protocol.CodeAppDisabled},
		{"not /app/", "/foo?protocol=7", protocol.CodePathNotFound},
		{"no key", "/app/?protocol=7", protocol.CodePathNotFound},
		{"extra path", "/app/" + enabled.Key + "/extra?protocol=7", protocol.CodePathNotFound},
		{"no protocol", "/app/" + enabled.Key, protocol.CodeNoProtocolVersion},
		{"empty protocol", "/app/" + enabled.Key + "?protocol=", protocol.CodeNoProtocolVersion},
		{"non-numeric protocol", "/app/" + enabled.Key + "?protocol=seven", protocol.CodeInvalidVersion},
		{"protocol 3", "/app/" + enabled.Key + "?protocol=3", protocol.CodeUnsupportedVersion},
		{"protocol 8", "/app/" + enabled.Key + "?protocol=8", protocol.CodeUnsupportedVersion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// On the wire: pusher:error with the code, then a close frame with the same code.
			r := dialRaw(t, ws, tc.path, 0)
			m, err := r.next(waitTimeout)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if m.close {
				t.Fatalf("closed with %d before pusher:error", m.code)
			}
			f := parseRaw(t, m.text)
			var e pusherError
			if f.Event != protocol.EventError || protocol.DecodeData(f.Data, &e) != nil || e.Code == nil || *e.Code != tc.code {
				t.Fatalf("first frame %s, want pusher:error with code %d", m.text, tc.code)
			}
			m, err = r.next(waitTimeout)
			if err != nil {
				t.Fatalf("read close: %v", err)
			}
			if !m.close || m.code != tc.code {
				t.Fatalf("got %+v, want close %d", m, tc.code)
			}

			// As a Pusher client sees it.
			_, err = pusherclient.Dial(testCtx(t), ws+tc.path)
			var ce *pusherclient.CloseError
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Fatalf("pusherclient.Dial: %v, want close code %d", err, tc.code)
			}
		})
	}
	// Refusals leave the app's count alone, and good connections work after them.
	if n := running(t, eng, enabled).Connections(); n != 0 {
		t.Errorf("%d connections counted after refusals", n)
	}
	pingPong(t, dial(t, ws, enabled))
}

func TestOlderProtocolVersionsAccepted(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	for _, v := range []string{"5", "6", "7"} {
		c, err := pusherclient.Dial(testCtx(t), ws+"/app/"+app.Key+"?protocol="+v)
		if err != nil {
			t.Fatalf("protocol=%s: %v", v, err)
		}
		_ = c.Close()
	}
}

func TestMaxConnections(t *testing.T) {
	app := newApp("1", func(a *configs.App) { a.Limits.MaxConnections = 2 })
	other := newApp("2")
	ws, _, _, eng := startServer(t, app, other)
	a := dial(t, ws, app)
	dial(t, ws, app)

	_, err := pusherclient.Dial(testCtx(t), creds(app).WebSocketURL(ws))
	var ce *pusherclient.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CodeOverConnectionQuota {
		t.Fatalf("third connection: %v, want close %d", err, protocol.CodeOverConnectionQuota)
	}
	// The quota is per app.
	dial(t, ws, other)

	// Closing one frees its slot.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitConnections(t, eng, app, 1)
	c := dial(t, ws, app)
	pingPong(t, c)
	_, err = pusherclient.Dial(testCtx(t), creds(app).WebSocketURL(ws))
	if !errors.As(err, &ce) || ce.Code != protocol.CodeOverConnectionQuota {
		t.Fatalf("connection over the quota again: %v, want close %d", err, protocol.CodeOverConnectionQuota)
	}

	// A connection that drops without a close handshake frees its slot too.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitConnections(t, eng, app, 1)
	r := dialRaw(t, ws, appPath(app), 0)
	r.expectEvent(t, protocol.EventConnectionEstablished)
	waitConnections(t, eng, app, 2)
	_ = r.conn.Close()
	waitConnections(t, eng, app, 1)
	pingPong(t, dial(t, ws, app))
}

func TestGracefulShutdown(t *testing.T) {
	app := newApp("1")
	ws, _, srv, _ := startServer(t, app)
	clients := []*pusherclient.Client{dial(t, ws, app), dial(t, ws, app), dial(t, ws, app)}
	subscribePublic(t, clients[0], "news")
	// A client that never answers the close handshake does not hold Shutdown up.
	raw := dialRaw(t, ws, appPath(app), 0)
	raw.expectEvent(t, protocol.EventConnectionEstablished)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	for i, c := range clients {
		if code := closeCode(t, c); code != protocol.CodeGenericReconnect {
			t.Errorf("client %d closed with %d, want %d", i, code, protocol.CodeGenericReconnect)
		}
	}
	if m, err := raw.next(waitTimeout); err != nil || !m.close || m.code != protocol.CodeGenericReconnect {
		t.Errorf("raw client: %+v, %v; want close %d", m, err, protocol.CodeGenericReconnect)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := pusherclient.Dial(testCtx(t), creds(app).WebSocketURL(ws)); err == nil {
		t.Error("a connection was accepted after Shutdown")
	}
}
