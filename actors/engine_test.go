package actors

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/protocol"
)

// fakeSink records what the actors write to a socket.
type fakeSink struct {
	frames chan []byte
	closed chan int
}

func newFakeSink() *fakeSink {
	return &fakeSink{frames: make(chan []byte, 256), closed: make(chan int, 1)}
}

func (s *fakeSink) Send(frame []byte)        { s.frames <- frame }
func (s *fakeSink) Close(code int, _ string) { s.closed <- code }

type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
}

func (s *fakeSink) next(t *testing.T) frame {
	t.Helper()
	select {
	case b := <-s.frames:
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no frame within 5s")
		return frame{}
	}
}

func (s *fakeSink) expect(t *testing.T, event string) frame {
	t.Helper()
	f := s.next(t)
	if f.Event != event {
		t.Fatalf("got %s %s, want %s", f.Event, f.Data, event)
	}
	return f
}

// quiet asserts nothing more was written after the actors have processed what came before:
// a round trip through the same grain orders behind everything already sent to it.
func (s *fakeSink) quiet(t *testing.T, e *Engine, app *App, channel string) {
	t.Helper()
	if _, err := e.ChannelInfo(context.Background(), app, channel, false); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-s.frames:
		t.Fatalf("unexpected frame %s", b)
	default:
	}
}

func testEngine(t *testing.T, limits protocol.Limits) (*Engine, *App) {
	t.Helper()
	app := &App{ID: "app", Key: "key", Secret: "secret", Enabled: true, ClientEvents: true, Limits: limits}
	e, err := NewEngine(Options{Apps: []*App{app}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e, app
}

func connect(t *testing.T, e *Engine, app *App) (*Connection, *fakeSink) {
	t.Helper()
	sink := newFakeSink()
	c, err := e.Connect(app, sink)
	if err != nil {
		t.Fatal(err)
	}
	return c, sink
}

func presenceSubscribe(c *Connection, app *App, channel, userID string) {
	data := `{"user_id":"` + userID + `","user_info":{"name":"` + userID + `"}}`
	c.Tell(&ClientSubscribe{Channel: channel, ChannelData: data,
		Auth: protocol.ChannelAuth(app.Key, app.Secret, c.SocketID(), channel, data)})
}

func TestPresenceOneUserManySockets(t *testing.T) {
	e, app := testEngine(t, protocol.DefaultLimits)
	const ch = "presence-room"
	a, aSink := connect(t, e, app)
	presenceSubscribe(a, app, ch, "alice")
	ok := aSink.expect(t, protocol.EventSubscriptionSucceeded)
	if !strings.Contains(string(ok.Data), `\"count\":1`) {
		t.Fatalf("roster %s", ok.Data)
	}

	b1, b1Sink := connect(t, e, app)
	presenceSubscribe(b1, app, ch, "bob")
	b1Sink.expect(t, protocol.EventSubscriptionSucceeded)
	added := aSink.expect(t, protocol.EventMemberAdded)
	if !strings.Contains(string(added.Data), `bob`) {
		t.Fatalf("member_added %s", added.Data)
	}

	// bob's second socket: one member, so no member_added for anyone
	b2, b2Sink := connect(t, e, app)
	presenceSubscribe(b2, app, ch, "bob")
	roster := b2Sink.expect(t, protocol.EventSubscriptionSucceeded)
	if !strings.Contains(string(roster.Data), `\"count\":2`) {
		t.Fatalf("roster %s", roster.Data)
	}
	aSink.quiet(t, e, app, ch)
	b1Sink.quiet(t, e, app, ch)

	info, err := e.ChannelInfo(context.Background(), app, ch, true)
	if err != nil || info.UserCount != 2 || info.SubscriptionCount != 3 || len(info.UserIds) != 2 {
		t.Fatalf("info %+v %v", info, err)
	}

	// bob leaves on one socket: still a member
	b1.Tell(&ClientUnsubscribe{Channel: ch})
	aSink.quiet(t, e, app, ch)
	// and on the last one: member_removed once, to alice only
	b2.Tell(&SocketClosed{})
	removed := aSink.expect(t, protocol.EventMemberRemoved)
	if !strings.Contains(string(removed.Data), `bob`) {
		t.Fatalf("member_removed %s", removed.Data)
	}
	aSink.quiet(t, e, app, ch)
	if app.Connections() != 2 {
		t.Fatalf("connections %d, want 2 (b2 closed)", app.Connections())
	}
}

func TestPresenceMemberLimit(t *testing.T) {
	limits := protocol.DefaultLimits
	limits.MaxPresenceMembers = 1
	e, app := testEngine(t, limits)
	a, aSink := connect(t, e, app)
	presenceSubscribe(a, app, "presence-x", "u1")
	aSink.expect(t, protocol.EventSubscriptionSucceeded)
	b, bSink := connect(t, e, app)
	presenceSubscribe(b, app, "presence-x", "u2")
	f := bSink.expect(t, protocol.EventSubscriptionError)
	if !strings.Contains(string(f.Data), protocol.SubscriptionErrorLimitReached) {
		t.Fatalf("error %s", f.Data)
	}
	// the same user on another socket is not a new member: allowed
	c, cSink := connect(t, e, app)
	presenceSubscribe(c, app, "presence-x", "u1")
	cSink.expect(t, protocol.EventSubscriptionSucceeded)
}

func TestPublishExcludesSocketAndKeepsOrder(t *testing.T) {
	e, app := testEngine(t, protocol.DefaultLimits)
	a, aSink := connect(t, e, app)
	b, bSink := connect(t, e, app)
	for _, c := range []*Connection{a, b} {
		c.Tell(&ClientSubscribe{Channel: "news"})
	}
	aSink.expect(t, protocol.EventSubscriptionSucceeded)
	bSink.expect(t, protocol.EventSubscriptionSucceeded)
	for i := 0; i < 50; i++ {
		e.Publish(context.Background(), app, Event{Channel: "news", Name: "n", Data: string(rune('a' + i%26)), ExcludeSocketID: a.SocketID()})
	}
	for i := 0; i < 50; i++ {
		f := bSink.expect(t, "n")
		var data string
		if err := json.Unmarshal(f.Data, &data); err != nil || data != string(rune('a'+i%26)) {
			t.Fatalf("event %d: data %s (%v)", i, f.Data, err)
		}
	}
	aSink.quiet(t, e, app, "news")
}

func TestSubscribeRefusals(t *testing.T) {
	e, app := testEngine(t, protocol.DefaultLimits)
	c, sink := connect(t, e, app)
	cases := []struct {
		name string
		msg  *ClientSubscribe
		want string
	}{
		{"bad name", &ClientSubscribe{Channel: "bad name!"}, protocol.SubscriptionErrorInvalid},
		{"too long", &ClientSubscribe{Channel: strings.Repeat("a", 165)}, protocol.SubscriptionErrorInvalid},
		{"private without auth", &ClientSubscribe{Channel: "private-a"}, protocol.SubscriptionErrorAuth},
		{"private wrong auth", &ClientSubscribe{Channel: "private-a", Auth: "key:00"}, protocol.SubscriptionErrorAuth},
		{"presence signed for other data", &ClientSubscribe{Channel: "presence-a", ChannelData: `{"user_id":"1"}`,
			Auth: protocol.ChannelAuth("key", "secret", c.SocketID(), "presence-a", `{"user_id":"2"}`)}, protocol.SubscriptionErrorAuth},
	}
	for _, tc := range cases {
		c.Tell(tc.msg)
		f := sink.expect(t, protocol.EventSubscriptionError)
		if !strings.Contains(string(f.Data), tc.want) {
			t.Fatalf("%s: %s", tc.name, f.Data)
		}
	}
	// the connection is still usable
	c.Tell(&ClientSubscribe{Channel: "private-a", Auth: protocol.ChannelAuth("key", "secret", c.SocketID(), "private-a", "")})
	sink.expect(t, protocol.EventSubscriptionSucceeded)
}

func TestClientEvents(t *testing.T) {
	limits := protocol.DefaultLimits
	limits.MaxClientEventsPerSecond = 3
	e, app := testEngine(t, limits)
	a, aSink := connect(t, e, app)
	b, bSink := connect(t, e, app)
	presenceSubscribe(a, app, "presence-c", "ua")
	aSink.expect(t, protocol.EventSubscriptionSucceeded)
	presenceSubscribe(b, app, "presence-c", "ub")
	bSink.expect(t, protocol.EventSubscriptionSucceeded)
	aSink.expect(t, protocol.EventMemberAdded)

	a.Tell(&ClientEvent{Event: "client-hi", Channel: "presence-c", Data: json.RawMessage(`{"x":1}`)})
	f := bSink.expect(t, "client-hi")
	if f.UserID != "ua" || string(f.Data) != `{"x":1}` {
		t.Fatalf("client event %+v", f)
	}
	aSink.quiet(t, e, app, "presence-c") // not echoed

	// rate limit: 3 per second (client-hi was the first), so the 4th and 5th are refused with 4301
	for i := 0; i < 4; i++ {
		a.Tell(&ClientEvent{Event: "client-n", Channel: "presence-c", Data: json.RawMessage(`1`)})
	}
	for i := 0; i < 2; i++ {
		errFrame := aSink.expect(t, protocol.EventError)
		if !strings.Contains(string(errFrame.Data), "4301") {
			t.Fatalf("rate limit error %s", errFrame.Data)
		}
	}
	for i := 0; i < 2; i++ {
		bSink.expect(t, "client-n")
	}

	// public channel and unsubscribed channel: refused
	a.Tell(&ClientSubscribe{Channel: "public"})
	aSink.expect(t, protocol.EventSubscriptionSucceeded)
	b.Tell(&ClientEvent{Event: "client-x", Channel: "public"})
	bSink.expect(t, protocol.EventError)
	b.Tell(&ClientEvent{Event: "client-x", Channel: "private-other"})
	bSink.expect(t, protocol.EventError)
	aSink.quiet(t, e, app, "public")
}

func TestConnectionQuota(t *testing.T) {
	limits := protocol.DefaultLimits
	limits.MaxConnections = 1
	e, app := testEngine(t, limits)
	c, _ := connect(t, e, app)
	if _, err := e.Connect(app, newFakeSink()); err != ErrOverQuota {
		t.Fatalf("second connection: %v", err)
	}
	c.Tell(&SocketClosed{})
	deadline := time.Now().Add(5 * time.Second)
	for app.Connections() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if _, err := e.Connect(app, newFakeSink()); err != nil {
		t.Fatalf("after close: %v", err)
	}
}

func TestSigninDeadline(t *testing.T) {
	e, app := testEngine(t, protocol.DefaultLimits)
	app.UserAuthentication, app.UserAuthenticationTimeout = true, 50*time.Millisecond
	_, unsigned := connect(t, e, app)
	signed, signedSink := connect(t, e, app)
	userData := `{"id":"u1"}`
	signed.Tell(&ClientSignin{UserData: userData, Auth: protocol.UserAuth(app.Key, app.Secret, signed.SocketID(), userData)})
	signedSink.expect(t, protocol.EventSigninSuccess)
	select {
	case code := <-unsigned.closed:
		if code != protocol.CodeUnauthorized {
			t.Fatalf("close code %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("unsigned socket not closed")
	}
	select {
	case code := <-signedSink.closed:
		t.Fatalf("signed-in socket closed with %d", code)
	default:
	}
}
