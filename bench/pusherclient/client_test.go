package pusherclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, fs *fakeServer, opts Options) *Client {
	t.Helper()
	c, err := DialOptions(testContext(t), fs.wsURL(testApp.Key), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// validSocketID is the shape Pusher gives socket ids: two runs of digits joined by a dot.
func validSocketID(s string) bool {
	a, b, ok := strings.Cut(s, ".")
	isDigits := func(x string) bool {
		return x != "" && strings.Trim(x, "0123456789") == ""
	}
	return ok && isDigits(a) && isDigits(b)
}

func TestDial(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	if !validSocketID(c.SocketID()) {
		t.Errorf("SocketID() = %q", c.SocketID())
	}
	if c.ActivityTimeout() != 30 {
		t.Errorf("ActivityTimeout() = %d", c.ActivityTimeout())
	}
	if e := c.Established(); e.Event != EventConnectionEstablished || len(e.Raw) == 0 {
		t.Errorf("Established() = %+v", e)
	}
	if c.Err() != nil {
		t.Errorf("Err() = %v on an open connection", c.Err())
	}
	// connection_established is Dial's, not Next's: the first message is the answer to a ping.
	if err := c.Send(map[string]any{"event": EventPing, "data": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(testContext(t))
	if err != nil || m.Event != EventPong {
		t.Fatalf("Next = %+v, %v; want pusher:pong", m, err)
	}
}

func TestDialUnknownApp(t *testing.T) {
	fs := newFakeServer(t)
	_, err := Dial(testContext(t), fs.wsURL("no-such-key"))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != codeAppNotFound || ce.Reason != "App key not found" {
		t.Fatalf("Dial = %v, want CloseError 4001", err)
	}
}

func TestDialHTTPError(t *testing.T) {
	fs := newFakeServer(t)
	_, err := Dial(testContext(t), "ws"+strings.TrimPrefix(fs.srv.URL, "http")+"/nowhere")
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("Dial = %v, want an HTTP 404 error", err)
	}
}

func TestDialBadURL(t *testing.T) {
	if _, err := Dial(testContext(t), "http://127.0.0.1:1/app/x"); err == nil {
		t.Fatal("Dial accepted an http:// URL")
	}
}

func TestDialContextEnds(t *testing.T) {
	fs := newFakeServer(t)
	fs.silent = true
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, fs.wsURL(testApp.Key))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v, want DeadlineExceeded", err)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dial(cancelled, fs.wsURL(testApp.Key)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a cancelled context = %v", err)
	}
}

func TestSubscribe(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	ctx := testContext(t)

	if m, err := c.Subscribe(ctx, "public-room", "", ""); err != nil || m.Event != EventSubscriptionSucceeded || m.Channel != "public-room" {
		t.Fatalf("public: %+v, %v", m, err)
	}
	if _, err := c.Subscribe(ctx, "private-room", testApp.ChannelAuth(c.SocketID(), "private-room", ""), ""); err != nil {
		t.Fatalf("private: %v", err)
	}

	auth, channelData, err := testApp.PresenceAuth(c.SocketID(), "presence-room", "u1", map[string]string{"name": "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Subscribe(ctx, "presence-room", auth, channelData)
	if err != nil {
		t.Fatalf("presence: %v", err)
	}
	var roster struct {
		Presence struct {
			IDs   []string                     `json:"ids"`
			Hash  map[string]map[string]string `json:"hash"`
			Count int                          `json:"count"`
		} `json:"presence"`
	}
	if err := m.Decode(&roster); err != nil {
		t.Fatal(err)
	}
	if roster.Presence.Count != 1 || roster.Presence.IDs[0] != "u1" || roster.Presence.Hash["u1"]["name"] != "Ann" {
		t.Fatalf("roster = %+v", roster)
	}

	wrong := App{Key: testApp.Key, Secret: "wrong"}
	_, err = c.Subscribe(ctx, "private-x", wrong.ChannelAuth(c.SocketID(), "private-x", ""), "")
	var se *SubscriptionError
	if !errors.As(err, &se) || se.Channel != "private-x" || se.Type != SubscriptionErrorAuth || se.Status != 401 || se.Message != "Invalid signature" {
		t.Fatalf("bad auth: %v", err)
	}
	_, err = c.Subscribe(ctx, "bad channel", "", "")
	if !errors.As(err, &se) || se.Type != SubscriptionErrorInvalid || se.Status != 400 {
		t.Fatalf("bad name: %v", err)
	}
	// The connection is still usable after the errors.
	if _, err := c.Subscribe(ctx, "another", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsubscribe("another"); err != nil {
		t.Fatal(err)
	}
}

func TestSubscribePusherError(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	// The fake server answers a subscribe whose data is not an object with pusher:error.
	_, err := c.sendExpect(testContext(t), map[string]any{"event": EventSubscribe, "data": 5}, func(m Message) bool {
		return m.Event == EventError
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendRaw([]byte("{")); err != nil {
		t.Fatal(err)
	}
	m, err := c.Subscribe(testContext(t), "room", "", "")
	var pe *PusherError
	if !errors.As(err, &pe) || pe.Code != 0 || pe.Message != "bad frame" || m.Event != EventError {
		t.Fatalf("Subscribe = %+v, %v; want the pusher:error", m, err)
	}
}

func TestSignin(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	ctx := testContext(t)
	userData := `{"id":"u1","user_info":{"name":"Ann"}}`
	m, err := c.Signin(ctx, testApp.UserAuth(c.SocketID(), userData), userData)
	if err != nil || m.Event != EventSigninSuccess {
		t.Fatalf("Signin = %+v, %v", m, err)
	}
	_, err = c.Signin(ctx, testApp.UserAuth("1.1", userData), userData)
	var pe *PusherError
	if !errors.As(err, &pe) || pe.Code != codeUnauthorized {
		t.Fatalf("bad signin: %v", err)
	}
}

func TestClientEventAndUserID(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	if err := c.SendClientEvent("presence-room", "test:echo-client-event", map[string]int{"x": 1}); err != nil {
		t.Fatal(err)
	}
	m, err := c.Expect(testContext(t), func(m Message) bool { return m.Event == "client-echo" })
	if err != nil {
		t.Fatal(err)
	}
	if m.UserID != "user-7" || m.Channel != "presence-room" || string(m.Data) != `{"x":1}` {
		t.Fatalf("got %+v", m)
	}
	if s, err := m.DataString(); err != nil || s != `{"x":1}` {
		t.Fatalf("DataString = %q, %v", s, err)
	}
}

func TestNextInOrderUnderBackPressure(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{QueueSize: 4})
	const n = 3000
	if err := c.Send(map[string]any{"event": "test:burst", "data": map[string]int{"n": n}}); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	var last time.Time
	for i := range n {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.DataString()
		if err != nil || m.Event != "burst" || s != strconv.Itoa(i) {
			t.Fatalf("message %d: %s (%v)", i, m.Raw, err)
		}
		if m.Received.Before(last) {
			t.Fatalf("message %d received before the one ahead of it", i)
		}
		last = m.Received
	}
	if m, err := c.Next(ctx); err != nil || m.Event != "burst-done" {
		t.Fatalf("after the burst: %+v, %v", m, err)
	}
}

func TestAutoPong(t *testing.T) {
	for _, noAutoPong := range []bool{false, true} {
		t.Run("NoAutoPong="+strconv.FormatBool(noAutoPong), func(t *testing.T) {
			fs := newFakeServer(t)
			c := dial(t, fs, Options{NoAutoPong: noAutoPong})
			ctx := testContext(t)
			if err := c.Send(map[string]string{"event": "test:send-ping"}); err != nil {
				t.Fatal(err)
			}
			// The ping is still delivered; the pong was written before it was.
			if m, err := c.Next(ctx); err != nil || m.Event != EventPing {
				t.Fatalf("Next = %+v, %v; want pusher:ping", m, err)
			}
			if err := c.Send(map[string]string{"event": "test:report-pongs"}); err != nil {
				t.Fatal(err)
			}
			m, err := c.Expect(ctx, func(m Message) bool { return m.Event == "pongs" })
			if err != nil {
				t.Fatal(err)
			}
			want := "1"
			if noAutoPong {
				want = "0"
			}
			if s, _ := m.DataString(); s != want {
				t.Fatalf("server counted %s pongs, want %s", s, want)
			}
		})
	}
}

func TestWebSocketPingAnswered(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	// gws answers the control ping inside the read loop; a round trip after it proves the
	// connection survived it.
	if err := c.Send(map[string]string{"event": "test:ws-ping"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(testContext(t), "after-ping", "", ""); err != nil {
		t.Fatal(err)
	}
}

func TestNotJSONFrame(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	if err := c.Send(map[string]string{"event": "test:not-json"}); err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(testContext(t))
	if err != nil || m.Event != "" || string(m.Raw) != "not json" {
		t.Fatalf("Next = %+v, %v", m, err)
	}
}

func TestServerClose(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	ctx := testContext(t)
	if err := c.Send(map[string]any{"event": "test:close", "data": map[string]any{"code": codePongNotReceived, "reason": "Pong reply not received"}}); err != nil {
		t.Fatal(err)
	}
	// What was sent before the close is still read first.
	if m, err := c.Next(ctx); err != nil || m.Event != "closing" {
		t.Fatalf("Next = %+v, %v", m, err)
	}
	_, err := c.Next(ctx)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != codePongNotReceived || ce.Reason != "Pong reply not received" {
		t.Fatalf("Next = %v, want CloseError 4201", err)
	}
	<-c.Done()
	if !errors.As(c.Err(), &ce) {
		t.Fatalf("Err() = %v", c.Err())
	}
	if _, err := c.Subscribe(ctx, "x", "", ""); err == nil {
		t.Fatal("Subscribe on a closed connection succeeded")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close after the server closed: %v", err)
	}
}

func TestConnectionDropped(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	if err := c.Send(map[string]string{"event": "test:drop"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Next(testContext(t))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1006 {
		t.Fatalf("Next = %v, want CloseError 1006", err)
	}
}

func TestClose(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Next(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
	if err := c.Send(map[string]string{"event": "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err() = %v", c.Err())
	}
}

func TestCloseReleasesBlockedReader(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{QueueSize: 1})
	waiting := make(chan struct{})
	var once sync.Once
	c.queue.mu.Lock()
	c.queue.onWait = func() { once.Do(func() { close(waiting) }) }
	c.queue.mu.Unlock()
	if err := c.Send(map[string]any{"event": "test:burst", "data": map[string]int{"n": 100}}); err != nil {
		t.Fatal(err)
	}
	<-waiting                         // the queue is full and the reader waits for space
	if err := c.Close(); err != nil { // returns only once the reader has ended
		t.Fatal(err)
	}
	if m, err := c.Next(testContext(t)); err != nil || m.Event != "burst" {
		t.Fatalf("the queued message is lost: %+v, %v", m, err)
	}
	if _, err := c.Next(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next = %v, want ErrClosed", err)
	}
}

func TestNextContext(t *testing.T) {
	fs := newFakeServer(t)
	c := dial(t, fs, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v", err)
	}
	if _, err := c.Subscribe(ctx, "x", "", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe = %v", err)
	}
}

func TestCallbackMode(t *testing.T) {
	fs := newFakeServer(t)
	var mu sync.Mutex
	var got []Message
	burstDone := make(chan struct{})
	var c *Client
	c = dial(t, fs, Options{OnMessage: func(m Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		if m.Event == "burst-done" {
			close(burstDone)
			_ = c.Close() // allowed from the callback: does not wait for itself
		}
	}})
	if _, err := c.Next(testContext(t)); !errors.Is(err, ErrCallbackMode) {
		t.Fatalf("Next = %v", err)
	}
	ctx := testContext(t)
	if _, err := c.Subscribe(ctx, "private-a", testApp.ChannelAuth(c.SocketID(), "private-a", ""), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, "private-b", "bad:auth", ""); err == nil {
		t.Fatal("bad auth accepted")
	}
	if err := c.Send(map[string]any{"event": "test:burst", "data": map[string]int{"n": 50}}); err != nil {
		t.Fatal(err)
	}
	<-burstDone
	<-c.Done()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 53 {
		t.Fatalf("callback got %d messages, want 53", len(got))
	}
	if got[0].Event != EventSubscriptionSucceeded || got[1].Event != EventSubscriptionError {
		t.Fatalf("first messages %s, %s", got[0].Raw, got[1].Raw)
	}
	for i, m := range got[2:52] {
		if s, _ := m.DataString(); s != strconv.Itoa(i) {
			t.Fatalf("message %d out of order: %s", i, m.Raw)
		}
	}
}

func TestHeaderSent(t *testing.T) {
	fs := newFakeServer(t)
	seen := make(chan string, 1)
	inner := fs.srv.Config.Handler
	fs.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.Header.Get("X-Test"):
		default:
		}
		inner.ServeHTTP(w, r)
	})
	dial(t, fs, Options{Header: http.Header{"X-Test": {"yes"}}})
	if h := <-seen; h != "yes" {
		t.Fatalf("X-Test = %q", h)
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		raw                    string
		event, channel, userID string
		data, dataString       string
	}{
		{raw: `{"event":"e","channel":"c","data":"{\"a\":1}"}`, event: "e", channel: "c", data: `"{\"a\":1}"`, dataString: `{"a":1}`},
		{raw: `{"event":"e","data":{"a":1}}`, event: "e", data: `{"a":1}`, dataString: `{"a":1}`},
		{raw: `{"event":"client-x","channel":"presence-a","data":{},"user_id":"u1"}`, event: "client-x", channel: "presence-a", userID: "u1", data: `{}`, dataString: `{}`},
		{raw: `{"event":"client-x","user_id":42}`, event: "client-x", userID: "42"},
		{raw: `{"event":"e","user_id":null,"data":null}`, event: "e", data: "null", dataString: "null"},
		{raw: `{"event":"e","data":"plain text"}`, event: "e", data: `"plain text"`, dataString: "plain text"},
		{raw: `not json`},
		{raw: `{"event":5}`},
	}
	for _, tt := range tests {
		m := parseMessage([]byte(tt.raw), time.Unix(1, 0))
		if m.Event != tt.event || m.Channel != tt.channel || m.UserID != tt.userID || string(m.Data) != tt.data || string(m.Raw) != tt.raw {
			t.Errorf("parseMessage(%s) = %+v", tt.raw, m)
		}
		if s, err := m.DataString(); err != nil || s != tt.dataString {
			t.Errorf("%s: DataString = %q, %v; want %q", tt.raw, s, err, tt.dataString)
		}
	}
	if _, err := (Message{Data: json.RawMessage(`"broken`)}).DataString(); err == nil {
		t.Error("DataString accepted a broken string")
	}
}

func TestErrorsText(t *testing.T) {
	for _, err := range []error{
		&CloseError{Code: 4001, Reason: "r"},
		&SubscriptionError{Channel: "c", Type: "AuthError", Message: "m", Status: 401},
		&PusherError{Code: 4009, Message: "m"},
		&APIError{Status: 401, Body: "{}\n"},
	} {
		if !strings.HasPrefix(err.Error(), "pusherclient: ") {
			t.Errorf("%T: %q", err, err.Error())
		}
	}
}
