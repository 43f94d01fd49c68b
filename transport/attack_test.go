package transport_test

// Regression tests of the holes an outside attacker found (issue "Close the holes an outside
// attacker found"): each failed on the code before its fix.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/actors/node/nodetest"
	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/transport"
)

// TestInvalidUTF8IsRefused: a text message that is not UTF-8 closes its socket with 1007 (RFC
// 6455) and reaches nobody; on a cache channel it is not cached, so no later subscriber is
// poisoned by it.
func TestInvalidUTF8IsRefused(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	const ch = "private-cache-poison"
	member := dial(t, ws, app)
	subscribePrivate(t, member, app, ch)
	expectNext(t, member, protocol.EventCacheMiss, ch)

	attacker := dialRaw(t, ws, appPath(app), 0)
	est := attacker.expectEvent(t, protocol.EventConnectionEstablished)
	var data struct {
		SocketID string `json:"socket_id"`
	}
	if err := protocol.DecodeData(est.Data, &data); err != nil {
		t.Fatal(err)
	}
	auth := creds(app).ChannelAuth(data.SocketID, ch, "")
	if err := attacker.writeText([]byte(`{"event":"pusher:subscribe","data":{"channel":"` + ch + `","auth":"` + auth + `"}}`)); err != nil {
		t.Fatal(err)
	}
	attacker.expectEvent(t, protocol.EventSubscriptionSucceeded)
	if err := attacker.writeText([]byte("{\"event\":\"client-x\",\"channel\":\"" + ch + "\",\"data\":\"\xff\xfe\"}")); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := attacker.next(waitTimeout)
		if err != nil {
			t.Fatalf("invalid UTF-8: %v; want close 1007", err)
		}
		if m.close {
			if m.code != 1007 {
				t.Fatalf("invalid UTF-8: closed with %d %q, want 1007", m.code, m.reason)
			}
			break
		}
		if f := parseRaw(t, m.text); f.Event != protocol.EventCacheMiss { // the answer to its subscribe
			t.Fatalf("attacker got %s before its close", m.text)
		}
	}
	pingPong(t, member) // nothing came before the pong
	late := dial(t, ws, app)
	subscribePrivate(t, late, app, ch)
	expectNext(t, late, protocol.EventCacheMiss, ch)
}

// TestRefusedPresenceMemberSendsNothing: a socket whose presence subscription the grain refuses
// (the channel is full) cannot get a client event through, however soon after its subscribe it
// sends it.
func TestRefusedPresenceMemberSendsNothing(t *testing.T) {
	app := newApp("1", func(a *configs.App) { a.Limits.MaxPresenceMembers = 1 })
	ws, httpBase, _, _ := startServer(t, app)
	const ch = "presence-full"
	member := dial(t, ws, app)
	subscribePresence(t, member, app, ch, "member", nil)
	for i := range 20 {
		c := dial(t, ws, app)
		auth, channelData, err := creds(app).PresenceAuth(c.SocketID(), ch, "intruder-"+strconv.Itoa(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		sub := `{"event":"pusher:subscribe","data":{"channel":"` + ch + `","auth":"` + auth + `","channel_data":` + strconv.Quote(channelData) + `}}`
		if err := c.SendRaw([]byte(sub)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendRaw([]byte(`{"event":"client-sneak","channel":"` + ch + `","data":{"i":` + strconv.Itoa(i) + `}}`)); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, c, protocol.EventSubscriptionError, ch)
	}
	barrier(t, apiFor(httpBase, app), ch, member) // a client-sneak would have come before it
}

// TestQueryReadAsSigned: a signed request replayed with a parameter in another case or given
// twice is refused: it would otherwise verify (signing lower-cases the names) while the handler
// read something else, such as a listing of every channel.
func TestQueryReadAsSigned(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	c := dial(t, ws, app)
	subscribePrivate(t, c, app, "private-secret")
	api := apiFor(httpBase, app)
	path := api.AppPath("/channels")
	q := url.Values{"filter_by_prefix": {"presence-"}}
	creds(app).SignRequest(http.MethodGet, path, q, nil, time.Now())
	if status, body := apiDo(t, api, http.MethodGet, path, q, nil); status != http.StatusOK || strings.Contains(string(body), "private-secret") {
		t.Fatalf("the signed request: %d %s", status, body)
	}
	for name, tamper := range map[string]func(url.Values){
		"upper-case name":  func(v url.Values) { v["FILTER_BY_PREFIX"] = v["filter_by_prefix"]; delete(v, "filter_by_prefix") },
		"mixed-case name":  func(v url.Values) { v["Filter_By_Prefix"] = []string{""}; delete(v, "filter_by_prefix") },
		"given twice":      func(v url.Values) { v.Add("filter_by_prefix", "") },
		"auth given twice": func(v url.Values) { v.Add("auth_key", v.Get("auth_key")) },
	} {
		replay := url.Values{}
		for k, v := range q {
			replay[k] = append([]string(nil), v...)
		}
		tamper(replay)
		status, body := apiDo(t, api, http.MethodGet, path, replay, nil)
		assertAPIError(t, status, body, http.StatusUnauthorized)
		if strings.Contains(string(body), "private-secret") {
			t.Fatalf("%s: listed a private channel: %s", name, body)
		}
	}
}

// TestUnfinishedMessageIsBounded: a client that starts a fragmented message and never finishes
// it is closed after activity_timeout plus pong_timeout, however many WebSocket pings it sends
// meanwhile (control frames may come between fragments; they are not activity).
func TestUnfinishedMessageIsBounded(t *testing.T) {
	app := newApp("1")
	clock := nodetest.NewClock()
	ws, _, _, _ := startServerWith(t, testOpts{deps: transport.Deps{Clock: clock}}, app)
	cfg := configs.Default()
	sweep := max(min(cfg.ActivityTimeout, cfg.PongTimeout)/4, 50*time.Millisecond)
	r := dialRaw(t, ws, appPath(app), 0)
	r.expectEvent(t, protocol.EventConnectionEstablished)
	if err := r.writeFragment(0x1, false, []byte(`{"event":"pusher:ping","data":"`+strings.Repeat("x", 16<<10))); err != nil {
		t.Fatal(err)
	}
	if err := clock.BlockUntilContext(testCtx(t), 1); err != nil { // the activity sweep's ticker
		t.Fatal(err)
	}
	ping := func() {
		t.Helper()
		if err := r.writeFrame(0x9, []byte("keep me")); err != nil {
			t.Fatal(err)
		}
	}
	ping()
	clock.Advance(cfg.ActivityTimeout + sweep)
	ping()
	r.expectEvent(t, protocol.EventPing) // it cannot answer: its message is not finished
	ping()
	clock.Advance(cfg.PongTimeout + sweep)
	if m, err := r.next(waitTimeout); err != nil || !m.close || m.code != protocol.CodePongNotReceived {
		t.Fatalf("unfinished message: %+v, %v; want close %d", m, err, protocol.CodePongNotReceived)
	}
}

// TestSlowHTTPClientsAreCutOff: a client that sends an HTTP API request's headers or its body
// slowly is cut off after read_timeout, and an unsigned request is refused before its body is
// read at all.
func TestSlowHTTPClientsAreCutOff(t *testing.T) {
	app := newApp("1")
	const readTimeout = 300 * time.Millisecond
	_, httpBase, _, _ := startServerWith(t, testOpts{config: func(c *configs.Config) { c.ReadTimeout = readTimeout }}, app)
	api := apiFor(httpBase, app)
	host := strings.TrimPrefix(httpBase, "http://")
	path := api.AppPath("/events")
	body := mustJSON(t, map[string]any{"name": "slow", "channel": "news", "data": "{}"})

	request := func(q url.Values, contentLength int) string {
		return fmt.Sprintf("POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
			path, q.Encode(), host, contentLength)
	}

	t.Run("headers never finished", func(t *testing.T) {
		conn, br := dialTCP(t, host)
		_, _ = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: "+host+"\r\n")
		// The server closes (it may first answer 408): either way the read ends, well
		// before waitTimeout.
		start := time.Now()
		_, _ = io.ReadAll(br)
		if waited := time.Since(start); waited >= waitTimeout {
			t.Fatalf("the connection stayed open %v", waited)
		}
	})
	t.Run("body never finished", func(t *testing.T) {
		q := url.Values{}
		creds(app).SignRequest(http.MethodPost, path, q, body, time.Now())
		conn, br := dialTCP(t, host)
		_, _ = io.WriteString(conn, request(q, len(body)))
		_, _ = conn.Write(body[:5])
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer to a stalled body: %v", err)
		}
		if res.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("stalled body: %d, want 408", res.StatusCode)
		}
	})
	t.Run("unsigned body not read", func(t *testing.T) {
		q := url.Values{"auth_key": {app.Key}, "auth_timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
			"auth_version": {"1.0"}, "auth_signature": {strings.Repeat("0", 64)}, "body_md5": {strings.Repeat("0", 32)}}
		conn, br := dialTCP(t, host)
		_, _ = io.WriteString(conn, request(q, 1<<20)) // a megabyte announced, none sent
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer before the body: %v", err)
		}
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unsigned request: %d, want 401 before its body", res.StatusCode)
		}
	})
	// The server still serves.
	if _, err := api.Trigger(testCtx(t), []string{"news"}, "after", "{}", pusherclient.TriggerOptions{}); err != nil {
		t.Fatal(err)
	}
}
