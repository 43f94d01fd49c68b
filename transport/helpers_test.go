package transport_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/transport"
)

// waitTimeout bounds every wait for something the server should do; it is generous for -race
// on a loaded two-core machine, and only reached when a test is failing.
const waitTimeout = 10 * time.Second

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// newApp is the default app of configs/default.yaml with client events on and credentials from
// id: ID "1" gives key "1-key" and secret "1-secret". edit, when given, adjusts it before the
// server starts.
func newApp(id string, edit ...func(*configs.App)) *configs.App {
	a := configs.DefaultApp(id, id+"-key", id+"-secret")
	a.ClientEvents = true
	for _, f := range edit {
		f(&a)
	}
	return &a
}

// creds are an app's credentials as a client and backend hold them.
func creds(a *configs.App) pusherclient.App {
	return pusherclient.App{ID: a.ID, Key: a.Key, Secret: a.Secret}
}

// testOpts adjust a test server: its config beyond the apps, and its dependencies.
type testOpts struct {
	config func(*configs.Config)
	deps   transport.Deps
}

// startServer starts an engine and server with default options on 127.0.0.1:0.
func startServer(t *testing.T, apps ...*configs.App) (wsBase, httpBase string, srv *transport.Server, eng *actors.Engine) {
	t.Helper()
	return startServerWith(t, testOpts{}, apps...)
}

// startServerWith starts an engine and a server with opts over apps, listening on 127.0.0.1:0,
// and stops both in t.Cleanup (after the clients the test opens later, since cleanups run last
// registered first).
func startServerWith(t *testing.T, opts testOpts, apps ...*configs.App) (wsBase, httpBase string, srv *transport.Server, eng *actors.Engine) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return startServerOn(t, l, opts, apps...)
}

// startServerOn is startServerWith on a listener the test made.
func startServerOn(t *testing.T, l net.Listener, opts testOpts, apps ...*configs.App) (wsBase, httpBase string, srv *transport.Server, eng *actors.Engine) {
	t.Helper()
	cfg := configs.Default()
	cfg.Apps = cfg.Apps[:0]
	for _, a := range apps {
		cfg.Apps = append(cfg.Apps, *a)
	}
	if opts.config != nil {
		opts.config(cfg)
	}
	if opts.deps.Logger == nil {
		opts.deps.Logger = discardLogger
	}
	eng, err := actors.New(cfg, actors.Deps{Logger: opts.deps.Logger, Clock: opts.deps.Clock})
	if err != nil {
		_ = l.Close()
		t.Fatalf("engine: %v", err)
	}
	srv, err = transport.New(eng, cfg, opts.deps)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		// As herald's main gives it: shutdown_grace (a client that does not read gets 2 s for
		// its queue and 2 s to answer the close, and -race on a busy machine is slow).
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Serve did not return after Shutdown")
		}
		eng.Shutdown()
	})
	addr := l.Addr().String()
	return "ws://" + addr, "http://" + addr, srv, eng
}

// running is app as the engine runs it: its counters.
func running(t *testing.T, eng *actors.Engine, app *configs.App) *actors.App {
	t.Helper()
	a, ok := eng.AppByID(app.ID)
	if !ok {
		t.Fatalf("app %s is not running", app.ID)
	}
	return a
}

// testCtx is a context that ends with the test or after waitTimeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// dial connects a pusherclient to app and closes it at the end of the test.
func dial(t *testing.T, wsBase string, app *configs.App) *pusherclient.Client {
	t.Helper()
	return dialOpts(t, wsBase, app, pusherclient.Options{})
}

func dialOpts(t *testing.T, wsBase string, app *configs.App, opts pusherclient.Options) *pusherclient.Client {
	t.Helper()
	c, err := pusherclient.DialOptions(testCtx(t), creds(app).WebSocketURL(wsBase), opts)
	if err != nil {
		t.Fatalf("dial %s: %v", app.Key, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// apiFor is a signed HTTP API client of app.
func apiFor(httpBase string, app *configs.App) *pusherclient.API {
	return &pusherclient.API{BaseURL: httpBase, App: creds(app)}
}

// next returns c's next message, failing the test if none comes.
func next(t *testing.T, c *pusherclient.Client) pusherclient.Message {
	t.Helper()
	m, err := c.Next(testCtx(t))
	if err != nil {
		t.Fatalf("waiting for a message: %v", err)
	}
	return m
}

// expectNext asserts that c's next message is event on channel (channel "" matches none).
func expectNext(t *testing.T, c *pusherclient.Client, event, channel string) pusherclient.Message {
	t.Helper()
	m := next(t, c)
	if m.Event != event || m.Channel != channel {
		t.Fatalf("next message: got %s, want event %q on channel %q", m.Raw, event, channel)
	}
	return m
}

// expectEvent skips messages until event on channel arrives.
func expectEvent(t *testing.T, c *pusherclient.Client, event, channel string) pusherclient.Message {
	t.Helper()
	m, err := c.Expect(testCtx(t), func(m pusherclient.Message) bool { return m.Event == event && m.Channel == channel })
	if err != nil {
		t.Fatalf("waiting for %s on %q: %v", event, channel, err)
	}
	return m
}

// expectPusherError asserts that c's next message is pusher:error and returns it decoded.
func expectPusherError(t *testing.T, c *pusherclient.Client) pusherError {
	t.Helper()
	m := next(t, c)
	if m.Event != protocol.EventError {
		t.Fatalf("next message: got %s, want pusher:error", m.Raw)
	}
	var e pusherError
	if err := m.Decode(&e); err != nil {
		t.Fatalf("pusher:error data %s: %v", m.Data, err)
	}
	if e.Message == "" {
		t.Errorf("pusher:error without a message: %s", m.Raw)
	}
	return e
}

// pusherError is pusher:error's data; Code is nil when the server sent null.
type pusherError struct {
	Code    *int   `json:"code"`
	Message string `json:"message"`
}

// pingPong proves the connection is open and has nothing queued before the pong: every
// message the server sent before it has already been read and checked.
func pingPong(t *testing.T, c *pusherclient.Client) {
	t.Helper()
	if err := c.SendRaw([]byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatalf("send pusher:ping: %v", err)
	}
	expectNext(t, c, protocol.EventPong, "")
}

func subscribe(t *testing.T, c *pusherclient.Client, channel, auth, channelData string) pusherclient.Message {
	t.Helper()
	m, err := c.Subscribe(testCtx(t), channel, auth, channelData)
	if err != nil {
		t.Fatalf("subscribe %s: %v", channel, err)
	}
	return m
}

func subscribePublic(t *testing.T, c *pusherclient.Client, channel string) {
	t.Helper()
	subscribe(t, c, channel, "", "")
}

func subscribePrivate(t *testing.T, c *pusherclient.Client, app *configs.App, channel string) {
	t.Helper()
	subscribe(t, c, channel, creds(app).ChannelAuth(c.SocketID(), channel, ""), "")
}

// presenceRoster is the data of a presence channel's subscription_succeeded.
type presenceRoster struct {
	Presence struct {
		IDs   []string                   `json:"ids"`
		Hash  map[string]json.RawMessage `json:"hash"`
		Count int                        `json:"count"`
	} `json:"presence"`
}

func subscribePresence(t *testing.T, c *pusherclient.Client, app *configs.App, channel, userID string, userInfo any) presenceRoster {
	t.Helper()
	auth, data, err := creds(app).PresenceAuth(c.SocketID(), channel, userID, userInfo)
	if err != nil {
		t.Fatal(err)
	}
	m := subscribe(t, c, channel, auth, data)
	var r presenceRoster
	if err := m.Decode(&r); err != nil {
		t.Fatalf("presence roster %s: %v", m.Raw, err)
	}
	return r
}

// subscriptionError subscribes and asserts the answer is pusher:subscription_error.
func subscriptionError(t *testing.T, c *pusherclient.Client, channel, auth, channelData string) *pusherclient.SubscriptionError {
	t.Helper()
	m, err := c.Subscribe(testCtx(t), channel, auth, channelData)
	var se *pusherclient.SubscriptionError
	if !errors.As(err, &se) {
		t.Fatalf("subscribe %q: got %s, %v; want pusher:subscription_error", channel, m.Raw, err)
	}
	return se
}

var barrierSeq atomic.Int64

// barrier triggers a marker event on channel and asserts it is the next message of each
// client. Events travel through the channel in order, so whatever the channel would have sent
// those clients before the marker (an echo, an excluded event, a member_added) would come first.
func barrier(t *testing.T, api *pusherclient.API, channel string, clients ...*pusherclient.Client) {
	t.Helper()
	name := "barrier-" + strconv.FormatInt(barrierSeq.Add(1), 10)
	if _, err := api.Trigger(testCtx(t), []string{channel}, name, "{}", pusherclient.TriggerOptions{}); err != nil {
		t.Fatalf("trigger barrier: %v", err)
	}
	for _, c := range clients {
		expectNext(t, c, name, channel)
	}
}

// eventually polls cond until it holds, failing with what after waitTimeout. It is for state
// the server exposes no event for (a counter dropping after a socket closed).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitConnections(t *testing.T, eng *actors.Engine, app *configs.App, n int64) {
	t.Helper()
	a := running(t, eng, app)
	eventually(t, fmt.Sprintf("app %s to have %d connections", app.ID, n), func() bool { return a.Connections() == n })
}

// waitSubscriptions waits until the channel grain counts n subscriptions: a leave has then gone
// through the node fan-out, which sends it on to the grain after dropping the socket.
func waitSubscriptions(t *testing.T, eng *actors.Engine, app *configs.App, channel string, n int64) {
	t.Helper()
	ctx := testCtx(t)
	a := running(t, eng, app)
	eventually(t, fmt.Sprintf("%s to have %d subscriptions", channel, n), func() bool {
		info, err := eng.ChannelInfo(ctx, a, channel, false)
		return err == nil && info.SubscriptionCount == n
	})
}

// closeCode waits until c is closed by the server and returns the close code.
func closeCode(t *testing.T, c *pusherclient.Client) int {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("connection %s was not closed", c.SocketID())
	}
	var ce *pusherclient.CloseError
	if !errors.As(c.Err(), &ce) {
		t.Fatalf("connection ended with %v, want a close code", c.Err())
	}
	return ce.Code
}

// apiDo sends a (signed, unless query holds auth_signature) request and returns status and body.
func apiDo(t *testing.T, api *pusherclient.API, method, path string, query url.Values, body []byte) (int, []byte) {
	t.Helper()
	status, b, err := api.Do(testCtx(t), method, path, query, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, b
}

// assertAPIError checks an HTTP API failure: the status and a JSON {"error": "..."} body.
func assertAPIError(t *testing.T, status int, body []byte, want int) {
	t.Helper()
	if status != want {
		t.Errorf("status %d, want %d; body %s", status, want, body)
		return
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Errorf("error body %q is not {\"error\": message}: %v", body, err)
	}
}

// rawWS is a WebSocket client written for these tests, so that a test controls every byte:
// it answers no pings, reads only when asked, and can shrink its receive buffer to stall.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex
}

// rawMsg is a text message or a close frame.
type rawMsg struct {
	text   []byte
	close  bool
	code   int
	reason string
}

// dialRaw upgrades path (with its query) on the server at wsBase. rcvBuf > 0 sets the socket's
// receive buffer before connecting, to make a client that stops reading stall the server soon.
func dialRaw(t *testing.T, wsBase, path string, rcvBuf int) *rawWS {
	t.Helper()
	u, err := url.Parse(wsBase)
	if err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{Timeout: waitTimeout}
	if rcvBuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	conn, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatalf("dial %s: %v", u.Host, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write handshake: %v", err)
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read handshake response: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake of %s: HTTP %d", path, resp.StatusCode)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	_ = conn.SetDeadline(time.Time{})
	return &rawWS{conn: conn, br: br}
}

// next returns the next text message or close frame within timeout; pings and pongs are
// skipped and never answered.
func (r *rawWS) next(timeout time.Duration) (rawMsg, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = r.conn.SetReadDeadline(time.Time{}) }()
	var text []byte
	for {
		fin, op, payload, err := r.readFrame()
		if err != nil {
			return rawMsg{}, err
		}
		switch op {
		case 0x8:
			m := rawMsg{close: true, code: 1005}
			if len(payload) >= 2 {
				m.code, m.reason = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
			}
			return m, nil
		case 0x9, 0xA:
			continue
		case 0x1, 0x0:
			text = append(text, payload...)
			if fin {
				return rawMsg{text: text}, nil
			}
		default:
			return rawMsg{}, fmt.Errorf("unexpected opcode %#x", op)
		}
	}
}

func (r *rawWS) readFrame() (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r.br, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0F
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r.br, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r.br, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(r.br, mask[:]); err != nil {
			return
		}
	}
	if n > 16<<20 {
		err = fmt.Errorf("frame of %d bytes", n)
		return
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r.br, payload); err != nil {
		return
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return
}

// writeText sends one masked text frame, as a client must.
func (r *rawWS) writeText(b []byte) error { return r.writeFrame(0x1, b) }

// writeFrame sends one masked, final frame with opcode op.
func (r *rawWS) writeFrame(op byte, b []byte) error { return r.writeFragment(op, true, b) }

// writeFragment sends one masked frame with opcode op (0 for a continuation), final or not.
func (r *rawWS) writeFragment(op byte, fin bool, b []byte) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	frame := []byte{op}
	if fin {
		frame[0] |= 0x80
	}
	switch {
	case len(b) < 126:
		frame = append(frame, 0x80|byte(len(b)))
	case len(b) <= 0xFFFF:
		frame = append(frame, 0x80|126, byte(len(b)>>8), byte(len(b)))
	default:
		frame = append(frame, 0x80|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(len(b)))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	frame = append(frame, mask[:]...)
	for i, c := range b {
		frame = append(frame, c^mask[i%4])
	}
	_ = r.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	_, err := r.conn.Write(frame)
	return err
}

// expectEvent reads until a text message with the event arrives and returns its frame.
func (r *rawWS) expectEvent(t *testing.T, event string) rawFrame {
	t.Helper()
	for {
		m, err := r.next(waitTimeout)
		if err != nil {
			t.Fatalf("waiting for %s: %v", event, err)
		}
		if m.close {
			t.Fatalf("waiting for %s: closed with %d %q", event, m.code, m.reason)
		}
		f := parseRaw(t, m.text)
		if f.Event == event {
			return f
		}
	}
}

type rawFrame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

func parseRaw(t *testing.T, b []byte) rawFrame {
	t.Helper()
	var f rawFrame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %q is not JSON: %v", b, err)
	}
	return f
}

// appPath is the path and query pusher-js connects with.
func appPath(app *configs.App) string {
	return "/app/" + app.Key + "?protocol=7&client=js&version=8.4.0&flash=false"
}

// mustJSON marshals v or fails.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%q is not JSON: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

// smallSendBuffers is a listener whose accepted sockets have a fixed kernel send buffer, so
// that a client that stops reading stalls the server's writes after kilobytes, not the
// megabytes Linux's buffer autotuning would allow on loopback.
type smallSendBuffers struct {
	net.Listener
	bytes int
}

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.bytes)
	}
	return c, err
}

// dialFlood opens n connections to app as fast as it can, closing each that is admitted, and
// returns how many were refused with 4100 (over capacity). Any other failure fails the test.
func dialFlood(t *testing.T, ws string, app *configs.App, n int) (refused int) {
	t.Helper()
	for range n {
		c, err := pusherclient.Dial(testCtx(t), creds(app).WebSocketURL(ws))
		var ce *pusherclient.CloseError
		switch {
		case err == nil:
			_ = c.Close()
		case errors.As(err, &ce) && ce.Code == protocol.CodeOverCapacity:
			refused++
		default:
			t.Fatalf("dial: %v", err)
		}
	}
	return refused
}

// defaultLimits are the limits of configs/default.yaml, which every test app starts from.
var defaultLimits = configs.Default().Apps[0].Limits

// dialTCP opens a plain TCP connection to host (closed in t.Cleanup), for tests that write raw
// HTTP; its reads and writes end by waitTimeout.
func dialTCP(t *testing.T, host string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	return conn, bufio.NewReader(conn)
}

// responseStatus reads an HTTP response from br and returns its status code.
func responseStatus(t *testing.T, br *bufio.Reader) int {
	t.Helper()
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode
}
