package transport_test

import (
	"github.com/jonboulle/clockwork"

	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/transport"
)

// probe is a WebSocket client for handshakes pusherclient cannot make (TLS with a test CA, a
// chosen Origin): it keeps every text message and the close code.
type probe struct {
	conn *gws.Conn
	msgs chan []byte
	done chan struct{}

	mu     sync.Mutex
	code   int
	reason string
}

func (p *probe) OnOpen(*gws.Conn)             {}
func (p *probe) OnPing(c *gws.Conn, b []byte) { _ = c.WritePong(b) }
func (p *probe) OnPong(*gws.Conn, []byte)     {}
func (p *probe) OnMessage(_ *gws.Conn, m *gws.Message) {
	p.msgs <- append([]byte(nil), m.Bytes()...)
	m.Close()
}
func (p *probe) OnClose(_ *gws.Conn, err error) {
	p.mu.Lock()
	p.code = 1006
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		p.code, p.reason = int(ce.Code), string(ce.Reason)
	}
	p.mu.Unlock()
	close(p.done)
}

func dialProbe(t *testing.T, url string, header http.Header, tlsConf *tls.Config) *probe {
	t.Helper()
	p := &probe{msgs: make(chan []byte, 64), done: make(chan struct{})}
	conn, _, err := gws.NewClient(p, &gws.ClientOption{Addr: url, RequestHeader: header, TlsConfig: tlsConf, HandshakeTimeout: waitTimeout})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	p.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() { _ = conn.NetConn().Close() })
	return p
}

// next returns the next frame, failing if the socket closes first.
func (p *probe) next(t *testing.T) rawFrame {
	t.Helper()
	select {
	case b := <-p.msgs:
		return parseRaw(t, b)
	case <-p.done:
		select { // a message read before the close is still there
		case b := <-p.msgs:
			return parseRaw(t, b)
		default:
		}
		t.Fatalf("closed with %d %q while waiting for a message", p.code, p.reason)
	case <-time.After(waitTimeout):
		t.Fatal("no message")
	}
	return rawFrame{}
}

// expectRefused asserts the Pusher refusal: pusher:error with code, then close with code.
func (p *probe) expectRefused(t *testing.T, code int, reason string) {
	t.Helper()
	p.refusedWith(t, p.next(t), code, reason)
}

// refusedWith is expectRefused with the first frame already read.
func (p *probe) refusedWith(t *testing.T, f rawFrame, code int, reason string) {
	t.Helper()
	var e pusherError
	if f.Event != protocol.EventError || protocol.DecodeData(f.Data, &e) != nil || e.Code == nil || *e.Code != code {
		t.Fatalf("got %s %s, want pusher:error with code %d", f.Event, f.Data, code)
	}
	if reason != "" && e.Message != reason {
		t.Errorf("pusher:error message %q, want %q", e.Message, reason)
	}
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		t.Fatal("not closed after pusher:error")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.code != code || (reason != "" && p.reason != reason) {
		t.Fatalf("closed with %d %q, want %d %q", p.code, p.reason, code, reason)
	}
}

func (p *probe) send(t *testing.T, frame string) {
	t.Helper()
	if err := p.conn.WriteString(frame); err != nil {
		t.Fatal(err)
	}
}

// TestTLS: with a certificate configured, wss:// and https:// work, and plain ws:// does not.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool, err := transport.WriteTestCert(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	tlsConf, err := transport.LoadTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	app := newApp("1")
	ws, _, _, _ := startServerWith(t, testOpts{deps: transport.Deps{TLS: tlsConf}}, app)
	host := strings.TrimPrefix(ws, "ws://")
	clientTLS := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	p := dialProbe(t, "wss://"+host+appPath(app), nil, clientTLS)
	if f := p.next(t); f.Event != protocol.EventConnectionEstablished {
		t.Fatalf("first frame %s, want connection_established", f.Event)
	}
	p.send(t, `{"event":"pusher:subscribe","data":{"channel":"news"}}`)
	if f := p.next(t); f.Event != protocol.EventSubscriptionSucceeded {
		t.Fatalf("got %s %s, want subscription_succeeded", f.Event, f.Data)
	}

	api := &pusherclient.API{BaseURL: "https://" + host, App: creds(app),
		HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: waitTimeout}}
	if _, err := api.Trigger(testCtx(t), []string{"news"}, "over-tls", `"hi"`, pusherclient.TriggerOptions{}); err != nil {
		t.Fatalf("https trigger: %v", err)
	}
	if f := p.next(t); f.Event != "over-tls" || f.Channel != "news" {
		t.Fatalf("got %s on %q, want over-tls on news", f.Event, f.Channel)
	}
	var channels struct {
		Channels map[string]json.RawMessage `json:"channels"`
	}
	if _, err := api.Get(testCtx(t), api.AppPath("/channels"), nil, &channels); err != nil || channels.Channels["news"] == nil {
		t.Fatalf("https GET channels: %v %v", channels, err)
	}

	// The listener speaks only TLS: a plain handshake fails, an untrusting client refuses it.
	if _, err := pusherclient.Dial(testCtx(t), creds(app).WebSocketURL(ws)); err == nil {
		t.Error("plain ws:// connected to the TLS listener")
	}
	if _, _, err := gws.NewClient(&probe{msgs: make(chan []byte, 1), done: make(chan struct{})},
		&gws.ClientOption{Addr: "wss://" + host + appPath(app), TlsConfig: &tls.Config{MinVersion: tls.VersionTLS12}}); err == nil {
		t.Error("a client without the test CA accepted the certificate")
	}
}

// TestAllowedOrigins: an app with allowed_origins refuses other browser origins the Pusher way
// (pusher:error and close 4009); an app without the list takes any origin.
func TestAllowedOrigins(t *testing.T) {
	guarded := newApp("1")
	open := newApp("2")
	guarded.AllowedOrigins = []string{"https://example.com", "https://*.example.org", "HTTP://LOCALHOST:8080/"}
	ws, _, _, eng := startServerWith(t, testOpts{}, guarded, open)
	cases := []struct {
		app     *configs.App
		origin  string
		allowed bool
	}{
		{guarded, "https://example.com", true},
		{guarded, "https://EXAMPLE.com", true},
		{guarded, "https://app.example.org", true},
		{guarded, "https://a.b.example.org", true},
		{guarded, "http://localhost:8080", true},
		{guarded, "", true}, // not a browser: Origin protects nothing there
		{guarded, "https://evil.com", false},
		{guarded, "http://example.com", false},
		{guarded, "https://example.com:8443", false},
		{guarded, "https://example.org", false},
		{guarded, "https://evilexample.org", false},
		{guarded, "https://example.com.evil.com", false},
		{guarded, "null", false},
		{open, "https://evil.com", true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%s", tc.app.ID, tc.origin), func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			p := dialProbe(t, ws+appPath(tc.app), h, nil)
			if !tc.allowed {
				p.expectRefused(t, protocol.CodeUnauthorized, "origin not allowed")
				return
			}
			if f := p.next(t); f.Event != protocol.EventConnectionEstablished {
				t.Fatalf("got %s %s, want connection_established", f.Event, f.Data)
			}
		})
	}
	waitConnections(t, eng, guarded, 0) // refused sockets were never counted; the allowed ones closed
}

// TestConnectionRatePerIP: more new sockets from one address than its rate allows are refused
// with 4100 (back off and reconnect); exempt addresses and other apps' sockets are not held to it.
func TestConnectionRatePerIP(t *testing.T) {
	app := newApp("1")
	const rate = 3
	dialMany := func(ws string, n int) (accepted, refused int) {
		for range n {
			c, err := pusherclient.Dial(testCtx(t), creds(app).WebSocketURL(ws))
			var ce *pusherclient.CloseError
			switch {
			case err == nil:
				accepted++
				_ = c.Close()
			case errors.As(err, &ce) && ce.Code == protocol.CodeOverCapacity:
				refused++
			default:
				t.Fatalf("dial: %v", err)
			}
		}
		return accepted, refused
	}

	t.Run("limited", func(t *testing.T) {
		ws, _, _, _ := startServerWith(t, testOpts{config: func(c *configs.Config) { c.ConnectionRatePerIP, c.ConnectionRateExempt = rate, nil }}, app)
		// A burst of rate, then one each 1/rate s: 20 quick dials cannot all pass.
		accepted, refused := dialMany(ws, 20)
		if accepted < rate || refused == 0 {
			t.Fatalf("%d accepted, %d refused; want at least %d accepted and some refused with 4100", accepted, refused, rate)
		}
		t.Logf("%d accepted, %d refused", accepted, refused)
		// The refusal on the wire: pusher:error 4100, close 4100.
		for i := 0; ; i++ {
			p := dialProbe(t, ws+appPath(app), nil, nil)
			if f := p.next(t); f.Event == protocol.EventError {
				p.refusedWith(t, f, protocol.CodeOverCapacity, "")
				break
			}
			_ = p.conn.NetConn().Close()
			if i == 20 {
				t.Fatal("20 more quick dials, none refused")
			}
		}
	})
	t.Run("exempt", func(t *testing.T) {
		ws, _, _, _ := startServerWith(t, testOpts{config: func(c *configs.Config) {
			c.ConnectionRatePerIP, c.ConnectionRateExempt = rate, []string{"127.0.0.0/8"}
		}}, app)
		if accepted, refused := dialMany(ws, 20); refused != 0 {
			t.Fatalf("exempt address: %d accepted, %d refused", accepted, refused)
		}
	})
}

// TestConnectionRatePerApp: an app's max_connections_per_second refuses its sockets over the
// rate with 4100 and leaves other apps alone.
func TestConnectionRatePerApp(t *testing.T) {
	limited, other := newApp("1"), newApp("2")
	limited.Limits.MaxConnectionsPerSecond = 2
	ws, _, _, _ := startServerWith(t, testOpts{}, limited, other)
	if refused := dialFlood(t, ws, limited, 20); refused == 0 {
		t.Fatal("20 quick connections at 2 per second: none refused")
	}
	for range 20 {
		pingPong(t, dial(t, ws, other))
	}
}

// TestSubscribeRate: subscribes over max_subscribes_per_second get subscription_error
// LimitReached 429, the socket stays open and subscribes again once the rate allows.
func TestSubscribeRate(t *testing.T) {
	app := newApp("1")
	const rate = 5
	app.Limits.MaxSubscribesPerSecond = rate
	clock := clockwork.NewFakeClockAt(time.Now())
	ws, httpBase, _, _ := startServerWith(t, testOpts{deps: transport.Deps{Clock: clock}}, app)
	c := dial(t, ws, app)
	// Sent at once, read after: the server sees them as one burst.
	const n = 50
	for i := range n {
		if err := c.SendRaw(fmt.Appendf(nil, `{"event":"pusher:subscribe","data":{"channel":"storm-%d"}}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	succeeded, limited := 0, 0
	for range n {
		m := next(t, c)
		switch m.Event {
		case protocol.EventSubscriptionSucceeded:
			succeeded++
		case protocol.EventSubscriptionError:
			var se pusherclient.SubscriptionError
			if err := m.Decode(&se); err != nil || se.Type != protocol.SubscriptionErrorLimitReached || se.Status != http.StatusTooManyRequests {
				t.Fatalf("subscription_error %s, want LimitReached 429", m.Data)
			}
			limited++
		default:
			t.Fatalf("unexpected %s", m.Raw)
		}
	}
	if succeeded < rate || limited == 0 || succeeded > n/2 {
		t.Fatalf("%d subscribed, %d limited of a burst of %d at %d/s", succeeded, limited, n, rate)
	}
	t.Logf("%d subscribed, %d limited", succeeded, limited)
	// Still open, and subscribing works again after a second.
	pingPong(t, c)
	clock.Advance(time.Second)
	subscribePublic(t, c, "after-storm")
	barrier(t, apiFor(httpBase, app), "after-storm", c)
	// Other sockets have their own allowance.
	subscribePublic(t, dial(t, ws, app), "other")
}
