package actors_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/actors/node/nodetest"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

// testNode is one engine on a fake clock, with one app, recording its webhooks.
type testNode struct {
	e        *actors.Engine
	app      *actors.App
	clock    *nodetest.Clock
	webhooks *nodetest.Webhooks
}

// newTestNode starts an engine over the default app of default.yaml (credentials app/key/secret,
// a webhook target wanting every event type, so every webhook is produced), adjusted by edit.
func newTestNode(t *testing.T, edit ...func(*configs.App)) *testNode {
	t.Helper()
	cfg := configs.Default()
	app := configs.DefaultApp("app", "key", "secret")
	app.Webhooks = []configs.Webhook{{URL: "http://127.0.0.1:1/unused"}}
	for _, f := range edit {
		f(&app)
	}
	cfg.Apps = []configs.App{app}
	n := &testNode{clock: nodetest.NewClock(), webhooks: &nodetest.Webhooks{}}
	e, err := actors.New(cfg, actors.Deps{Clock: n.clock, Webhooks: n.webhooks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	n.e = e
	n.app, _ = e.AppByID("app")
	return n
}

func (n *testNode) connect(t *testing.T) (*actors.Connection, *nodetest.Sink) {
	t.Helper()
	sink := nodetest.NewSink()
	c, err := n.e.Connect(n.app, sink)
	if err != nil {
		t.Fatal(err)
	}
	return c, sink
}

// sync returns once the channel's grain has handled everything sent to it before.
func (n *testNode) sync(t *testing.T, channel string) *actors.ChannelInfo {
	t.Helper()
	info, err := n.e.ChannelInfo(context.Background(), n.app, channel, true)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitSubscribers waits until the channel's grain counts k subscribers: a leave has gone from
// the connection through the node's fan-out to the grain.
func (n *testNode) waitSubscribers(t *testing.T, channel string, k int64) {
	t.Helper()
	eventually(t, "the grain to count the leave", func() bool { return n.sync(t, channel).SubscriptionCount == k })
}

func (n *testNode) publish(t *testing.T, channel, event, data string) {
	t.Helper()
	if err := n.e.Publish(context.Background(), n.app, actors.Event{Channel: channel, Name: event, Data: data}); err != nil {
		t.Fatal(err)
	}
}

func (n *testNode) presenceSubscribe(c *actors.Connection, channel, userID string) {
	data := `{"user_id":"` + userID + `","user_info":{"name":"` + userID + `"}}`
	s := n.app.Settings()
	c.Subscribe(channel, protocol.ChannelAuth(s.Key, s.Secret, c.SocketID(), channel, data), data)
}

func (n *testNode) privateSubscribe(c *actors.Connection, channel string) {
	s := n.app.Settings()
	c.Subscribe(channel, protocol.ChannelAuth(s.Key, s.Secret, c.SocketID(), channel, ""), "")
}

func (n *testNode) signin(t *testing.T, c *actors.Connection, sink *nodetest.Sink, userData string) {
	t.Helper()
	s := n.app.Settings()
	c.Signin(protocol.UserAuth(s.Key, s.Secret, c.SocketID(), userData), userData)
	sink.Expect(t, protocol.EventSigninSuccess)
}

// eventually polls cond (for counters the actors expose no event for).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPresenceOneUserManySockets(t *testing.T) {
	n := newTestNode(t)
	const ch = "presence-room"
	a, aSink := n.connect(t)
	n.presenceSubscribe(a, ch, "alice")
	if ok := aSink.Expect(t, protocol.EventSubscriptionSucceeded); !strings.Contains(ok.DataString(t), `"count":1`) {
		t.Fatalf("roster %s", ok.Raw)
	}
	b1, b1Sink := n.connect(t)
	n.presenceSubscribe(b1, ch, "bob")
	b1Sink.Expect(t, protocol.EventSubscriptionSucceeded)
	if added := aSink.Expect(t, protocol.EventMemberAdded); !strings.Contains(added.DataString(t), `"bob"`) {
		t.Fatalf("member_added %s", added.Raw)
	}
	// bob's second socket: one member, so no member_added for anyone
	b2, b2Sink := n.connect(t)
	n.presenceSubscribe(b2, ch, "bob")
	if roster := b2Sink.Expect(t, protocol.EventSubscriptionSucceeded); !strings.Contains(roster.DataString(t), `"count":2`) {
		t.Fatalf("roster %s", roster.Raw)
	}
	info := n.sync(t, ch)
	aSink.Empty(t)
	b1Sink.Empty(t)
	if info.UserCount != 2 || info.SubscriptionCount != 3 || len(info.UserIds) != 2 {
		t.Fatalf("info %+v", info)
	}
	// bob leaves on one socket: still a member; on the last one: member_removed once, to alice only
	b1.Unsubscribe(ch)
	n.waitSubscribers(t, ch, 2)
	aSink.Empty(t)
	b2.Closed()
	if removed := aSink.Expect(t, protocol.EventMemberRemoved); removed.DataString(t) != `{"user_id":"bob"}` {
		t.Fatalf("member_removed %s", removed.Raw)
	}
	n.sync(t, ch)
	aSink.Empty(t)
	eventually(t, "2 connections", func() bool { return n.app.Connections() == 2 })
}

func TestPresenceMemberLimit(t *testing.T) {
	n := newTestNode(t, func(a *configs.App) { a.Limits.MaxPresenceMembers = 1 })
	a, aSink := n.connect(t)
	n.presenceSubscribe(a, "presence-x", "u1")
	aSink.Expect(t, protocol.EventSubscriptionSucceeded)
	b, bSink := n.connect(t)
	n.presenceSubscribe(b, "presence-x", "u2")
	if f := bSink.Expect(t, protocol.EventSubscriptionError); !strings.Contains(string(f.Data), protocol.SubscriptionErrorLimitReached) {
		t.Fatalf("error %s", f.Raw)
	}
	// the same user on another socket is not a new member: allowed
	c, cSink := n.connect(t)
	n.presenceSubscribe(c, "presence-x", "u1")
	cSink.Expect(t, protocol.EventSubscriptionSucceeded)
}

// TestClientEventNeedsConfirmedSubscription: a socket whose presence subscription the grain
// refuses (the channel is full) cannot send client events on it, however soon after the
// subscribe it sends them. The connection only relays for subscriptions the grain confirmed.
func TestClientEventNeedsConfirmedSubscription(t *testing.T) {
	n := newTestNode(t, func(a *configs.App) { a.Limits.MaxPresenceMembers = 1 })
	member, memberSink := n.connect(t)
	n.presenceSubscribe(member, "presence-full", "u1")
	memberSink.Expect(t, protocol.EventSubscriptionSucceeded)
	for range 20 {
		refused, refusedSink := n.connect(t)
		n.presenceSubscribe(refused, "presence-full", "intruder")
		refused.ClientEvent("client-sneak", "presence-full", json.RawMessage(`{"x":1}`))
		var sawError, sawRefusal bool
		for !sawError || !sawRefusal {
			switch f := refusedSink.Next(t); f.Event {
			case protocol.EventSubscriptionError:
				sawRefusal = true
			case protocol.EventError:
				sawError = true
			default:
				t.Fatalf("refused socket got %s", f.Raw)
			}
		}
		refused.Closed()
	}
	n.sync(t, "presence-full")
	memberSink.Empty(t)
}

func TestPublishExcludesSocketAndKeepsOrder(t *testing.T) {
	n := newTestNode(t)
	a, aSink := n.connect(t)
	b, bSink := n.connect(t)
	a.Subscribe("news", "", "")
	b.Subscribe("news", "", "")
	aSink.Expect(t, protocol.EventSubscriptionSucceeded)
	bSink.Expect(t, protocol.EventSubscriptionSucceeded)
	for i := range 50 {
		if err := n.e.Publish(context.Background(), n.app, actors.Event{Channel: "news", Name: "n", Data: string(rune('a' + i%26)), ExcludeSocketID: a.SocketID()}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		if f := bSink.Expect(t, "n"); f.DataString(t) != string(rune('a'+i%26)) {
			t.Fatalf("event %d: %s", i, f.Raw)
		}
	}
	n.sync(t, "news")
	aSink.Empty(t)
}

func TestSubscribeRefusals(t *testing.T) {
	n := newTestNode(t)
	c, sink := n.connect(t)
	cases := []struct {
		name                     string
		channel, auth, data, typ string
	}{
		{"bad name", "bad name!", "", "", protocol.SubscriptionErrorInvalid},
		{"too long", strings.Repeat("a", 165), "", "", protocol.SubscriptionErrorInvalid},
		{"private without auth", "private-a", "", "", protocol.SubscriptionErrorAuth},
		{"private wrong auth", "private-a", "key:00", "", protocol.SubscriptionErrorAuth},
		{"presence signed for other data", "presence-a",
			protocol.ChannelAuth("key", "secret", c.SocketID(), "presence-a", `{"user_id":"2"}`), `{"user_id":"1"}`, protocol.SubscriptionErrorAuth},
		{"server-to-user of another user", "#server-to-user-bob", "", "", protocol.SubscriptionErrorAuth},
	}
	for _, tc := range cases {
		c.Subscribe(tc.channel, tc.auth, tc.data)
		if f := sink.Expect(t, protocol.EventSubscriptionError); !strings.Contains(string(f.Data), tc.typ) {
			t.Fatalf("%s: %s", tc.name, f.Raw)
		}
	}
	// the connection is still usable
	n.privateSubscribe(c, "private-a")
	sink.Expect(t, protocol.EventSubscriptionSucceeded)
}

func TestSubscribeRate(t *testing.T) {
	n := newTestNode(t, func(a *configs.App) { a.Limits.MaxSubscribesPerSecond = 3 })
	c, sink := n.connect(t)
	for i := range 5 {
		c.Subscribe("storm-"+string(rune('a'+i)), "", "")
	}
	var ok, limited int
	for range 5 {
		switch f := sink.Next(t); f.Event {
		case protocol.EventSubscriptionSucceeded:
			ok++
		case protocol.EventSubscriptionError:
			if !strings.Contains(string(f.Data), `"status":429`) {
				t.Fatalf("refusal %s", f.Raw)
			}
			limited++
		}
	}
	if ok != 3 || limited != 2 {
		t.Fatalf("%d subscribed, %d limited; want 3 and 2", ok, limited)
	}
	n.clock.Advance(time.Second)
	c.Subscribe("after", "", "")
	sink.Expect(t, protocol.EventSubscriptionSucceeded)
}

func TestClientEvents(t *testing.T) {
	n := newTestNode(t, func(a *configs.App) { a.Limits.MaxClientEventsPerSecond = 3 })
	a, aSink := n.connect(t)
	b, bSink := n.connect(t)
	n.presenceSubscribe(a, "presence-c", "ua")
	aSink.Expect(t, protocol.EventSubscriptionSucceeded)
	n.presenceSubscribe(b, "presence-c", "ub")
	bSink.Expect(t, protocol.EventSubscriptionSucceeded)
	aSink.Expect(t, protocol.EventMemberAdded)

	a.ClientEvent("client-hi", "presence-c", json.RawMessage(`{"x":1}`))
	if f := bSink.Expect(t, "client-hi"); f.UserID != "ua" || string(f.Data) != `{"x":1}` {
		t.Fatalf("client event %s", f.Raw)
	}
	n.sync(t, "presence-c")
	aSink.Empty(t) // not echoed
	if got := n.webhooks.Take(); len(got) == 0 || got[len(got)-1].Name != protocol.WebhookClientEvent || got[len(got)-1].Data != `{"x":1}` {
		t.Fatalf("client_event webhook: %+v", got)
	}

	// rate: 3 a second in bursts of 3 (client-hi was the first): the 4th and 5th are refused with 4301
	for range 4 {
		a.ClientEvent("client-n", "presence-c", json.RawMessage(`1`))
	}
	for range 2 {
		if f := aSink.Expect(t, protocol.EventError); !strings.Contains(string(f.Data), "4301") {
			t.Fatalf("rate limit error %s", f.Raw)
		}
	}
	bSink.Expect(t, "client-n")
	bSink.Expect(t, "client-n")
	n.clock.Advance(time.Second)
	a.ClientEvent("client-later", "presence-c", json.RawMessage(`2`))
	bSink.Expect(t, "client-later")

	// invalid UTF-8 in the data: refused, relayed to nobody
	a.ClientEvent("client-bad", "presence-c", json.RawMessage("\"\xff\""))
	aSink.Expect(t, protocol.EventError)
	// public channel, unsubscribed channel, name too long: refused
	a.Subscribe("public", "", "")
	aSink.Expect(t, protocol.EventSubscriptionSucceeded)
	b.ClientEvent("client-x", "public", nil)
	bSink.Expect(t, protocol.EventError)
	b.ClientEvent("client-x", "private-other", nil)
	bSink.Expect(t, protocol.EventError)
	b.ClientEvent("client-"+strings.Repeat("x", 200), "presence-c", nil)
	bSink.Expect(t, protocol.EventError)
	n.sync(t, "presence-c")
	aSink.Empty(t)
}

func TestClientEventsOffForTheApp(t *testing.T) {
	n := newTestNode(t, func(a *configs.App) { a.ClientEvents = false })
	a, aSink := n.connect(t)
	n.privateSubscribe(a, "private-a")
	aSink.Expect(t, protocol.EventSubscriptionSucceeded)
	a.ClientEvent("client-x", "private-a", json.RawMessage(`{}`))
	if f := aSink.Expect(t, protocol.EventError); !strings.Contains(string(f.Data), "enable this feature") {
		t.Fatalf("error %s", f.Raw)
	}
}

func TestConnectionQuota(t *testing.T) {
	n := newTestNode(t, func(a *configs.App) { a.Limits.MaxConnections = 1 })
	c, _ := n.connect(t)
	if _, err := n.e.Connect(n.app, nodetest.NewSink()); err != actors.ErrOverQuota {
		t.Fatalf("second connection: %v", err)
	}
	c.Closed()
	eventually(t, "the closed connection to be uncounted", func() bool { return n.app.Connections() == 0 })
	if _, err := n.e.Connect(n.app, nodetest.NewSink()); err != nil {
		t.Fatalf("after close: %v", err)
	}
}

func TestSigninDeadline(t *testing.T) {
	n := newTestNode(t, func(a *configs.App) { a.UserAuthentication = true })
	_, unsigned := n.connect(t)
	signed, signedSink := n.connect(t)
	n.signin(t, signed, signedSink, `{"id":"u1"}`)
	n.clock.Advance(n.app.Settings().UserAuthenticationTimeout)
	if code := unsigned.Closed(t); code != protocol.CodeUnauthorized {
		t.Fatalf("close code %d", code)
	}
	signedSink.Empty(t)
}

func TestCacheChannel(t *testing.T) {
	n := newTestNode(t)
	first, firstSink := n.connect(t)
	first.Subscribe("cache-news", "", "")
	firstSink.Expect(t, protocol.EventSubscriptionSucceeded)
	if f := firstSink.Expect(t, protocol.EventCacheMiss); f.Channel != "cache-news" {
		t.Fatalf("cache_miss %s", f.Raw)
	}
	n.publish(t, "cache-news", "e1", "one")
	n.publish(t, "cache-news", "e2", "two")
	firstSink.Expect(t, "e1")
	firstSink.Expect(t, "e2")

	late, lateSink := n.connect(t)
	late.Subscribe("cache-news", "", "")
	lateSink.Expect(t, protocol.EventSubscriptionSucceeded)
	if cached := lateSink.Expect(t, "e2"); cached.DataString(t) != "two" {
		t.Fatalf("cached %s", cached.Raw)
	}

	// an event published with nobody subscribed is kept too, for cache_ttl and no longer
	n.publish(t, "cache-empty", "kept", "x")
	n.clock.Advance(n.app.Settings().CacheTTL - time.Second)
	c, cSink := n.connect(t)
	c.Subscribe("cache-empty", "", "")
	cSink.Expect(t, protocol.EventSubscriptionSucceeded)
	cSink.Expect(t, "kept")
	n.clock.Advance(time.Second)
	d, dSink := n.connect(t)
	d.Subscribe("cache-empty", "", "")
	dSink.Expect(t, protocol.EventSubscriptionSucceeded)
	dSink.Expect(t, protocol.EventCacheMiss)
}

func TestServerToUserAndTerminate(t *testing.T) {
	n := newTestNode(t)
	a1, a1Sink := n.connect(t)
	a2, a2Sink := n.connect(t)
	b, bSink := n.connect(t)
	n.signin(t, a1, a1Sink, `{"id":"alice"}`)
	n.signin(t, a2, a2Sink, `{"id":"alice"}`)
	n.signin(t, b, bSink, `{"id":"bob"}`)
	for _, c := range []*actors.Connection{a1, a2} { // pusher-js subscribes to its own user's channel
		c.Subscribe("#server-to-user-alice", "", "")
	}
	a1Sink.Expect(t, protocol.EventSubscriptionSucceeded)
	a2Sink.Expect(t, protocol.EventSubscriptionSucceeded)

	n.e.PublishToUser(n.app, "alice", actors.Event{Name: "note", Data: `{"n":1}`})
	for _, s := range []*nodetest.Sink{a1Sink, a2Sink} {
		if f := s.Expect(t, "note"); f.Channel != "#server-to-user-alice" || f.DataString(t) != `{"n":1}` {
			t.Fatalf("server-to-user frame %s", f.Raw)
		}
	}
	n.e.TerminateUser(n.app, "alice")
	for _, s := range []*nodetest.Sink{a1Sink, a2Sink} {
		if code := s.Closed(t); code != protocol.CodeUnauthorized {
			t.Fatalf("close code %d", code)
		}
	}
	bSink.Empty(t)
}

func TestWatchlist(t *testing.T) {
	n := newTestNode(t)
	bob, bobSink := n.connect(t)
	n.signin(t, bob, bobSink, `{"id":"bob"}`)
	watcher, wSink := n.connect(t)
	n.signin(t, watcher, wSink, `{"id":"w","watchlist":["bob","carol"]}`)
	if f := wSink.Expect(t, protocol.EventWatchlist); f.DataString(t) != `{"events":[{"name":"online","user_ids":["bob"]}]}` {
		t.Fatalf("bob online: %s", f.Raw)
	}
	carol, carolSink := n.connect(t)
	n.signin(t, carol, carolSink, `{"id":"carol"}`)
	if f := wSink.Expect(t, protocol.EventWatchlist); f.DataString(t) != `{"events":[{"name":"online","user_ids":["carol"]}]}` {
		t.Fatalf("carol online: %s", f.Raw)
	}
	bob.Closed()
	if f := wSink.Expect(t, protocol.EventWatchlist); f.DataString(t) != `{"events":[{"name":"offline","user_ids":["bob"]}]}` {
		t.Fatalf("bob offline: %s", f.Raw)
	}
	tooMany := `{"id":"x","watchlist":[` + strings.Repeat(`"u",`, 100) + `"u"]}`
	x, xSink := n.connect(t)
	s := n.app.Settings()
	x.Signin(protocol.UserAuth(s.Key, s.Secret, x.SocketID(), tooMany), tooMany)
	xSink.Expect(t, protocol.EventError)
}

func TestSubscriptionCountCoalesced(t *testing.T) {
	n := newTestNode(t, func(a *configs.App) { a.SubscriptionCount = true })
	var sinks []*nodetest.Sink
	for range 5 {
		c, s := n.connect(t)
		c.Subscribe("counted", "", "")
		s.Expect(t, protocol.EventSubscriptionSucceeded)
		sinks = append(sinks, s)
	}
	n.sync(t, "counted")
	sinks[0].Empty(t) // nothing before the interval ends
	n.clock.Advance(time.Second)
	// five joins within the interval: one update, with the final count, to everyone
	for _, s := range sinks {
		if f := s.Expect(t, protocol.EventSubscriptionCount); f.DataString(t) != `{"subscription_count":5}` {
			t.Fatalf("count %s", f.Raw)
		}
	}
	n.sync(t, "counted")
	sinks[0].Empty(t)
	var counts []int64
	for _, ev := range n.webhooks.Take() {
		if ev.Name == protocol.WebhookSubscriptionCount {
			counts = append(counts, *ev.SubscriptionCount)
		}
	}
	if len(counts) != 1 || counts[0] != 5 {
		t.Fatalf("subscription_count webhooks %v, want one of 5", counts)
	}
}

// TestOccupancyWebhooksDebounced: channel_vacated waits the webhook delay and is dropped, with
// the channel_occupied of the return, when the channel is occupied again by then; member_added
// and member_removed likewise for a member that leaves and comes back (a page reload).
func TestOccupancyWebhooksDebounced(t *testing.T) {
	n := newTestNode(t)
	delay := configs.Default().Webhooks.Delay
	names := func() (out []string) {
		for _, ev := range n.webhooks.Take() {
			out = append(out, ev.Name+":"+ev.UserID)
		}
		return out
	}
	expect := func(want ...string) {
		t.Helper()
		if got := names(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("webhooks %v, want %v", got, want)
		}
	}
	a, aSink := n.connect(t)
	n.presenceSubscribe(a, "presence-r", "u1")
	aSink.Expect(t, protocol.EventSubscriptionSucceeded)
	n.sync(t, "presence-r")
	expect("channel_occupied:", "member_added:u1")

	// reload: leave and come back within the delay: no webhook at all
	a.Closed()
	n.waitSubscribers(t, "presence-r", 0)
	b, bSink := n.connect(t)
	n.presenceSubscribe(b, "presence-r", "u1")
	bSink.Expect(t, protocol.EventSubscriptionSucceeded)
	n.clock.Advance(delay)
	n.sync(t, "presence-r")
	expect()

	// leave for good: both after the delay, not before
	b.Closed()
	n.waitSubscribers(t, "presence-r", 0)
	n.clock.Advance(delay - time.Millisecond)
	n.sync(t, "presence-r")
	expect()
	n.clock.Advance(time.Millisecond)
	n.sync(t, "presence-r")
	expect("member_removed:u1", "channel_vacated:")

	// cache_miss on a cache channel without an event
	c, cSink := n.connect(t)
	c.Subscribe("cache-x", "", "")
	cSink.Expect(t, protocol.EventSubscriptionSucceeded)
	cSink.Expect(t, protocol.EventCacheMiss)
	n.sync(t, "cache-x")
	expect("channel_occupied:", "cache_miss:")
}

// TestIdleGrainStops: an empty grain stops after its idle timeout and a new one serves the next
// subscriber; nothing is lost across the hand-over.
func TestIdleGrainStops(t *testing.T) {
	n := newTestNode(t)
	a, aSink := n.connect(t)
	a.Subscribe("brief", "", "")
	aSink.Expect(t, protocol.EventSubscriptionSucceeded)
	a.Unsubscribe("brief")
	n.waitSubscribers(t, "brief", 0)
	n.clock.Advance(time.Minute) // the grain stops
	b, bSink := n.connect(t)
	b.Subscribe("brief", "", "")
	bSink.Expect(t, protocol.EventSubscriptionSucceeded)
	n.publish(t, "brief", "after", "x")
	bSink.Expect(t, "after")
	if info := n.sync(t, "brief"); info.SubscriptionCount != 1 {
		t.Fatalf("info %+v", info)
	}
}

// TestChannelsPerConnection: a socket over the app's max_channels_per_connection is refused
// the next channel with LimitReached 403 and stays usable; leaving one makes room.
func TestChannelsPerConnection(t *testing.T) {
	n := newTestNode(t, func(a *configs.App) { a.Limits.MaxChannelsPerConnection = 3 })
	c, sink := n.connect(t)
	for _, ch := range []string{"a", "b", "c"} {
		c.Subscribe(ch, "", "")
		sink.Expect(t, protocol.EventSubscriptionSucceeded)
	}
	c.Subscribe("d", "", "")
	if f := sink.Expect(t, protocol.EventSubscriptionError); !strings.Contains(string(f.Data), `"status":403`) ||
		!strings.Contains(string(f.Data), protocol.SubscriptionErrorLimitReached) || f.Channel != "d" {
		t.Fatalf("fourth channel: %s", f.Raw)
	}
	c.Unsubscribe("a")
	c.Subscribe("d", "", "")
	sink.Expect(t, protocol.EventSubscriptionSucceeded)
}

// A publish's frames count their queueing delay from when the grain took the event, not from the
// HTTP API's take: a publish sent again after its grain died waited seconds in no queue of
// herald's, and counting that wait would make the node look behind and refuse triggers.
func TestDeliveryDelayCountsFromTheGrainsTake(t *testing.T) {
	n := newTestNode(t)
	c, sink := n.connect(t)
	c.Subscribe("news", "", "")
	sink.Expect(t, protocol.EventSubscriptionSucceeded)
	ev := actors.Event{Channel: "news", Name: "n", Data: "x", Accepted: n.clock.Now().Add(-3 * time.Second)}
	if err := n.e.Publish(context.Background(), n.app, ev); err != nil {
		t.Fatal(err)
	}
	sink.Expect(t, "n")
	if waited := time.Since(sink.Taken(t)); waited >= 3*time.Second {
		t.Fatalf("the frame says herald took its event %v ago, want the grain's take (the node's clock did not move)", waited)
	}
}
