package actors

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/protocol"
)

func TestCacheChannel(t *testing.T) {
	e, app := testEngine(t, protocol.DefaultLimits)
	app.CacheTTL = time.Hour
	first, firstSink := connect(t, e, app)
	first.Tell(&ClientSubscribe{Channel: "cache-news"})
	firstSink.expect(t, protocol.EventSubscriptionSucceeded)
	if f := firstSink.expect(t, protocol.EventCacheMiss); f.Channel != "cache-news" {
		t.Fatalf("cache_miss channel %q", f.Channel)
	}
	e.Publish(context.Background(), app, Event{Channel: "cache-news", Name: "e1", Data: "one"})
	e.Publish(context.Background(), app, Event{Channel: "cache-news", Name: "e2", Data: "two"})
	firstSink.expect(t, "e1")
	firstSink.expect(t, "e2")

	late, lateSink := connect(t, e, app)
	late.Tell(&ClientSubscribe{Channel: "cache-news"})
	lateSink.expect(t, protocol.EventSubscriptionSucceeded)
	cached := lateSink.expect(t, "e2")
	if string(cached.Data) != `"two"` {
		t.Fatalf("cached data %s", cached.Data)
	}

	// an event published with nobody subscribed is kept too
	e.Publish(context.Background(), app, Event{Channel: "cache-empty", Name: "kept", Data: "x"})
	c, cSink := connect(t, e, app)
	c.Tell(&ClientSubscribe{Channel: "cache-empty"})
	cSink.expect(t, protocol.EventSubscriptionSucceeded)
	cSink.expect(t, "kept")

	// expired: a miss
	app.CacheTTL = time.Nanosecond
	e.Publish(context.Background(), app, Event{Channel: "cache-short", Name: "gone", Data: "x"})
	d, dSink := connect(t, e, app)
	d.Tell(&ClientSubscribe{Channel: "cache-short"})
	dSink.expect(t, protocol.EventSubscriptionSucceeded)
	dSink.expect(t, protocol.EventCacheMiss)
}

func signin(t *testing.T, c *Connection, sink *fakeSink, app *App, userData string) {
	t.Helper()
	c.Tell(&ClientSignin{UserData: userData, Auth: protocol.UserAuth(app.Key, app.Secret, c.SocketID(), userData)})
	sink.expect(t, protocol.EventSigninSuccess)
}

func TestServerToUserAndTerminate(t *testing.T) {
	e, app := testEngine(t, protocol.DefaultLimits)
	a1, a1Sink := connect(t, e, app)
	a2, a2Sink := connect(t, e, app)
	b, bSink := connect(t, e, app)
	signin(t, a1, a1Sink, app, `{"id":"alice"}`)
	signin(t, a2, a2Sink, app, `{"id":"alice"}`)
	signin(t, b, bSink, app, `{"id":"bob"}`)

	e.PublishToUser(app, "alice", Event{Name: "note", Data: `{"n":1}`})
	for _, s := range []*fakeSink{a1Sink, a2Sink} {
		f := s.expect(t, "note")
		if f.Channel != "#server-to-user-alice" || string(f.Data) != `"{\"n\":1}"` {
			t.Fatalf("server-to-user frame %+v", f)
		}
	}
	e.TerminateUser(app, "alice")
	for _, s := range []*fakeSink{a1Sink, a2Sink} {
		select {
		case code := <-s.closed:
			if code != protocol.CodeUnauthorized {
				t.Fatalf("close code %d", code)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("alice's socket not closed")
		}
	}
	select {
	case code := <-bSink.closed:
		t.Fatalf("bob closed with %d", code)
	case b := <-bSink.frames:
		t.Fatalf("bob got %s", b)
	default:
	}
}

func TestWatchlist(t *testing.T) {
	e, app := testEngine(t, protocol.DefaultLimits)
	bob, bobSink := connect(t, e, app)
	signin(t, bob, bobSink, app, `{"id":"bob"}`)

	watcher, wSink := connect(t, e, app)
	signin(t, watcher, wSink, app, `{"id":"w","watchlist":["bob","carol"]}`)
	online := wSink.expect(t, protocol.EventWatchlist)
	if !strings.Contains(string(online.Data), `online`) || !strings.Contains(string(online.Data), `bob`) {
		t.Fatalf("watchlist %s", online.Data)
	}

	carol, carolSink := connect(t, e, app)
	signin(t, carol, carolSink, app, `{"id":"carol"}`)
	f := wSink.expect(t, protocol.EventWatchlist)
	var data string
	if err := json.Unmarshal(f.Data, &data); err != nil || data != `{"events":[{"name":"online","user_ids":["carol"]}]}` {
		t.Fatalf("carol online: %s %v", f.Data, err)
	}
	bob.Tell(&SocketClosed{})
	f = wSink.expect(t, protocol.EventWatchlist)
	if !strings.Contains(string(f.Data), `offline`) || !strings.Contains(string(f.Data), `bob`) {
		t.Fatalf("bob offline: %s", f.Data)
	}
	tooMany := `{"id":"x","watchlist":[` + strings.Repeat(`"u",`, 100) + `"u"]}`
	x, xSink := connect(t, e, app)
	x.Tell(&ClientSignin{UserData: tooMany, Auth: protocol.UserAuth(app.Key, app.Secret, x.SocketID(), tooMany)})
	xSink.expect(t, protocol.EventError)
}

func TestSubscriptionCountCoalesced(t *testing.T) {
	app := &App{ID: "app", Key: "key", Secret: "secret", Enabled: true, Limits: protocol.DefaultLimits, SubscriptionCount: true}
	e, err := NewEngine(Options{Apps: []*App{app}, SubscriptionCountInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	var sinks []*fakeSink
	for i := 0; i < 5; i++ {
		c, s := connect(t, e, app)
		c.Tell(&ClientSubscribe{Channel: "counted"})
		s.expect(t, protocol.EventSubscriptionSucceeded)
		sinks = append(sinks, s)
	}
	// five joins within the interval: one update, with the final count, to everyone
	for _, s := range sinks {
		f := s.expect(t, protocol.EventSubscriptionCount)
		if string(f.Data) != `"{\"subscription_count\":5}"` {
			t.Fatalf("count %s", f.Data)
		}
	}
	sinks[0].quiet(t, e, app, "counted")
}
