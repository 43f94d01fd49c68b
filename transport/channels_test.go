package transport_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

func TestSubscribeEveryKind(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	api := apiFor(httpBase, app)
	c := dial(t, ws, app)

	channels := []string{"news", "private-orders", "private-encrypted-vault", "presence-lobby"}
	for _, ch := range channels {
		var m pusherclient.Message
		switch {
		case strings.HasPrefix(ch, "presence-"):
			auth, data, err := creds(app).PresenceAuth(c.SocketID(), ch, "u1", nil)
			if err != nil {
				t.Fatal(err)
			}
			m = subscribe(t, c, ch, auth, data)
		case strings.HasPrefix(ch, "private-"):
			m = subscribe(t, c, ch, creds(app).ChannelAuth(c.SocketID(), ch, ""), "")
		default:
			m = subscribe(t, c, ch, "", "")
		}
		if len(m.Data) == 0 || m.Data[0] != '"' {
			t.Errorf("%s: subscription_succeeded data is not a JSON string: %s", ch, m.Raw)
		}
	}
	// Each subscription delivers, once.
	for _, ch := range channels {
		if _, err := api.Trigger(testCtx(t), []string{ch}, "hello", `{"to":"`+ch+`"}`, pusherclient.TriggerOptions{}); err != nil {
			t.Fatalf("trigger %s: %v", ch, err)
		}
		m := expectNext(t, c, "hello", ch)
		if s, _ := m.DataString(); s != `{"to":"`+ch+`"}` {
			t.Errorf("%s: data %q", ch, s)
		}
	}
	pingPong(t, c)
}

func TestSubscribeAuthFailures(t *testing.T) {
	app := newApp("1")
	other := newApp("2")
	ws, httpBase, _, _ := startServer(t, app, other)
	api := apiFor(httpBase, app)
	c := dial(t, ws, app)
	sid := c.SocketID()
	good := creds(app)
	wrongSecret := pusherclient.App{ID: app.ID, Key: app.Key, Secret: "not-the-secret"}
	presenceData := `{"user_id":"u1"}`

	cases := []struct {
		name, channel, auth, channelData string
	}{
		{"private without auth", "private-a", "", ""},
		{"private wrong secret", "private-a", wrongSecret.ChannelAuth(sid, "private-a", ""), ""},
		{"private signed for another socket", "private-a", good.ChannelAuth("1234.5678", "private-a", ""), ""},
		{"private signed for another channel", "private-a", good.ChannelAuth(sid, "private-b", ""), ""},
		{"private another app's key and secret", "private-a", creds(other).ChannelAuth(sid, "private-a", ""), ""},
		{"private right signature, wrong key", "private-a", "wrong-key:" + strings.SplitN(good.ChannelAuth(sid, "private-a", ""), ":", 2)[1], ""},
		{"private auth without colon", "private-a", "garbage", ""},
		{"encrypted without auth", "private-encrypted-a", "", ""},
		{"encrypted wrong secret", "private-encrypted-a", wrongSecret.ChannelAuth(sid, "private-encrypted-a", ""), ""},
		{"presence without auth", "presence-a", "", presenceData},
		{"presence wrong secret", "presence-a", wrongSecret.ChannelAuth(sid, "presence-a", presenceData), presenceData},
		{"presence channel_data changed", "presence-a", good.ChannelAuth(sid, "presence-a", presenceData), `{"user_id":"admin"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			se := subscriptionError(t, c, tc.channel, tc.auth, tc.channelData)
			if se.Type != protocol.SubscriptionErrorAuth || se.Status != 401 || se.Channel != tc.channel {
				t.Errorf("got %+v, want AuthError 401 on %s", se, tc.channel)
			}
		})
	}
	// The connection is still usable, and the refused channels can be joined properly.
	subscribePrivate(t, c, app, "private-a")
	subscribe(t, c, "private-encrypted-a", good.ChannelAuth(sid, "private-encrypted-a", ""), "")
	subscribe(t, c, "presence-a", good.ChannelAuth(sid, "presence-a", presenceData), presenceData)
	barrier(t, api, "private-a", c)
}

func TestSubscribeInvalidChannel(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	api := apiFor(httpBase, app)
	c := dial(t, ws, app)
	for _, name := range []string{
		"has space",
		"star*",
		"ünïcode",
		"#not-a-user-channel",
		strings.Repeat("a", 165),
		"",
	} {
		se := subscriptionError(t, c, name, "", "")
		if se.Type != protocol.SubscriptionErrorInvalid || se.Status != 400 {
			t.Errorf("%q: got %+v, want InvalidChannel 400", name, se)
		}
	}
	longest := strings.Repeat("a", 164)
	subscribePublic(t, c, longest)
	barrier(t, api, longest, c)
}

func TestPresenceChannelDataErrors(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	c := dial(t, ws, app)
	for _, cd := range []string{``, `not json`, `{}`, `{"user_id":""}`, `{"user_id":null}`, `{"user_id":{}}`} {
		se := subscriptionError(t, c, "presence-a", creds(app).ChannelAuth(c.SocketID(), "presence-a", cd), cd)
		if se.Status/100 != 4 {
			t.Errorf("channel_data %q: got %+v, want a 4xx subscription_error", cd, se)
		}
	}
	pingPong(t, c)
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, eng := startServer(t, app)
	api := apiFor(httpBase, app)
	a, b := dial(t, ws, app), dial(t, ws, app)
	subscribePublic(t, a, "news")
	subscribePublic(t, b, "news")
	barrier(t, api, "news", a, b)

	if err := a.Unsubscribe("news"); err != nil {
		t.Fatal(err)
	}
	waitSubscriptions(t, eng, app, "news", 1)
	barrier(t, api, "news", b)
	pingPong(t, a) // the event sent to b was not queued for a before the pong

	// Unsubscribing from a channel the socket is not on is harmless.
	if err := a.Unsubscribe("never-joined"); err != nil {
		t.Fatal(err)
	}
	pingPong(t, a)

	subscribePublic(t, a, "news")
	barrier(t, api, "news", a, b)

	// Leaving and joining again at once, without waiting for anything in between, ends
	// subscribed, once.
	for range 5 {
		if err := a.Unsubscribe("news"); err != nil {
			t.Fatal(err)
		}
		subscribePublic(t, a, "news")
	}
	barrier(t, api, "news", a, b)
	waitSubscriptions(t, eng, app, "news", 2)
	// And joining and leaving at once ends unsubscribed.
	if err := a.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "news"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Unsubscribe("news"); err != nil {
		t.Fatal(err)
	}
	waitSubscriptions(t, eng, app, "news", 1)
	barrier(t, api, "news", b)
	// a may or may not have been told it joined before it left, but gets no event.
	if err := a.SendRaw([]byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	for m := next(t, a); m.Event != protocol.EventPong; m = next(t, a) {
		if m.Event != protocol.EventSubscriptionSucceeded {
			t.Fatalf("after leaving: %s", m.Raw)
		}
	}
}

func TestEveryAllowedChannelCharacter(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	api := apiFor(httpBase, app)
	c := dial(t, ws, app)
	for _, ch := range []string{
		"AZaz09_-=@,.;",
		"private-AZaz09_-=@,.;",
		"presence-AZaz09_-=@,.;",
	} {
		switch {
		case strings.HasPrefix(ch, "presence-"):
			subscribePresence(t, c, app, ch, "u", nil)
		case strings.HasPrefix(ch, "private-"):
			subscribePrivate(t, c, app, ch)
		default:
			subscribePublic(t, c, ch)
		}
		barrier(t, api, ch, c)
		var info pusherclient.ChannelInfo
		if _, err := api.Get(testCtx(t), api.AppPath("/channels/"+ch), url.Values{"info": {"subscription_count"}}, &info); err != nil {
			t.Fatalf("info of %s: %v", ch, err)
		}
		if !info.Occupied || info.SubscriptionCount == nil || *info.SubscriptionCount != 1 {
			t.Errorf("info of %s: %+v", ch, info)
		}
	}
	assertUsers(t, api, "presence-AZaz09_-=@,.;", "u")
}

func TestChannelsAreIsolatedPerApp(t *testing.T) {
	app1, app2 := newApp("1"), newApp("2")
	ws, httpBase, _, _ := startServer(t, app1, app2)
	c1, c2 := dial(t, ws, app1), dial(t, ws, app2)
	subscribePublic(t, c1, "news")
	subscribePublic(t, c2, "news")
	barrier(t, apiFor(httpBase, app1), "news", c1)
	barrier(t, apiFor(httpBase, app2), "news", c2) // c2 got nothing of app 1 before this
}

func TestPresenceMembers(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, eng := startServer(t, app)
	api := apiFor(httpBase, app)
	const ch = "presence-room"

	o := dial(t, ws, app)
	r := subscribePresence(t, o, app, ch, "olga", map[string]string{"name": "Olga"})
	if r.Presence.Count != 1 || !slices.Equal(r.Presence.IDs, []string{"olga"}) || !jsonEqual(t, r.Presence.Hash["olga"], []byte(`{"name":"Olga"}`)) {
		t.Fatalf("first roster: %+v", r.Presence)
	}

	u1 := dial(t, ws, app)
	r = subscribePresence(t, u1, app, ch, "uma", map[string]string{"name": "Uma"})
	assertRoster(t, r, map[string]string{"olga": `{"name":"Olga"}`, "uma": `{"name":"Uma"}`})

	added := expectNext(t, o, protocol.EventMemberAdded, ch)
	if len(added.Data) == 0 || added.Data[0] != '"' {
		t.Errorf("member_added data is not a JSON string: %s", added.Raw)
	}
	var member struct {
		UserID   string          `json:"user_id"`
		UserInfo json.RawMessage `json:"user_info"`
	}
	if err := added.Decode(&member); err != nil || member.UserID != "uma" || !jsonEqual(t, member.UserInfo, []byte(`{"name":"Uma"}`)) {
		t.Fatalf("member_added %s: %v", added.Raw, err)
	}

	// The same user on a second socket is the same member: no member_added, count unchanged.
	u2 := dial(t, ws, app)
	r = subscribePresence(t, u2, app, ch, "uma", map[string]string{"name": "Uma"})
	assertRoster(t, r, map[string]string{"olga": `{"name":"Olga"}`, "uma": `{"name":"Uma"}`})
	// Nobody got a second member_added, and uma's sockets got none about uma.
	barrier(t, api, ch, o, u1, u2)
	assertUsers(t, api, ch, "olga", "uma")

	// One of uma's sockets leaves: uma is still a member.
	if err := u1.Close(); err != nil {
		t.Fatal(err)
	}
	waitSubscriptions(t, eng, app, ch, 2)
	barrier(t, api, ch, o, u2)
	assertUsers(t, api, ch, "olga", "uma")

	// The last one leaves: member_removed, once.
	if err := u2.Unsubscribe(ch); err != nil {
		t.Fatal(err)
	}
	removed := expectNext(t, o, protocol.EventMemberRemoved, ch)
	var gone struct {
		UserID string `json:"user_id"`
	}
	if err := removed.Decode(&gone); err != nil || gone.UserID != "uma" {
		t.Fatalf("member_removed %s: %v", removed.Raw, err)
	}
	barrier(t, api, ch, o)
	assertUsers(t, api, ch, "olga")

	// A numeric user_id is a member id as its decimal text.
	n := dial(t, ws, app)
	cd := `{"user_id":42}`
	subscribe(t, n, ch, creds(app).ChannelAuth(n.SocketID(), ch, cd), cd)
	added = expectNext(t, o, protocol.EventMemberAdded, ch)
	if err := added.Decode(&member); err != nil || member.UserID != "42" {
		t.Errorf("member_added for a numeric id: %s", added.Raw)
	}
	assertUsers(t, api, ch, "olga", "42")

	// The last socket of a member closing (rather than unsubscribing) removes it too.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	removed = expectNext(t, o, protocol.EventMemberRemoved, ch)
	if err := removed.Decode(&gone); err != nil || gone.UserID != "42" {
		t.Fatalf("member_removed %s: %v", removed.Raw, err)
	}
	barrier(t, api, ch, o)
	assertUsers(t, api, ch, "olga")
}

func assertRoster(t *testing.T, r presenceRoster, want map[string]string) {
	t.Helper()
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range want {
			if !yield(id) {
				return
			}
		}
	})
	got := slices.Sorted(slices.Values(r.Presence.IDs))
	if !slices.Equal(got, ids) || r.Presence.Count != len(want) || len(r.Presence.Hash) != len(want) {
		t.Fatalf("roster %+v, want ids %v", r.Presence, ids)
	}
	for id, info := range want {
		if !jsonEqual(t, r.Presence.Hash[id], []byte(info)) {
			t.Errorf("roster hash[%s] = %s, want %s", id, r.Presence.Hash[id], info)
		}
	}
}

// assertUsers checks GET /channels/{ch}/users and user_count against the member ids.
func assertUsers(t *testing.T, api *pusherclient.API, ch string, want ...string) {
	t.Helper()
	var users struct {
		Users []struct {
			ID string `json:"id"`
		} `json:"users"`
	}
	var raw struct {
		Users json.RawMessage `json:"users"`
	}
	if _, err := api.Get(testCtx(t), api.AppPath("/channels/"+ch+"/users"), nil, &raw); err != nil {
		t.Fatalf("users: %v", err)
	}
	if len(raw.Users) == 0 || raw.Users[0] != '[' {
		t.Fatalf("users of %s: %q, want a JSON array", ch, raw.Users)
	}
	if err := json.Unmarshal(raw.Users, &users.Users); err != nil {
		t.Fatalf("users of %s: %v", ch, err)
	}
	var got []string
	for _, u := range users.Users {
		got = append(got, u.ID)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("users of %s: %v, want %v", ch, got, want)
	}
	var info pusherclient.ChannelInfo
	if _, err := api.Get(testCtx(t), api.AppPath("/channels/"+ch), url.Values{"info": {"user_count"}}, &info); err != nil {
		t.Fatalf("channel info: %v", err)
	}
	if info.UserCount == nil || *info.UserCount != len(want) {
		t.Errorf("user_count of %s: %v, want %d", ch, info.UserCount, len(want))
	}
}

func TestPresenceLimits(t *testing.T) {
	app := newApp("1", func(a *configs.App) { a.Limits.MaxPresenceMembers = 2 })
	ws, httpBase, _, eng := startServer(t, app)
	api := apiFor(httpBase, app)
	const ch = "presence-small"

	a, b, c := dial(t, ws, app), dial(t, ws, app), dial(t, ws, app)
	subscribePresence(t, a, app, ch, "a", nil)
	subscribePresence(t, b, app, ch, "b", nil)
	auth, data, _ := creds(app).PresenceAuth(c.SocketID(), ch, "c", nil)
	se := subscriptionError(t, c, ch, auth, data)
	if se.Type != protocol.SubscriptionErrorLimitReached || se.Status != 403 {
		t.Errorf("third member: got %+v, want LimitReached 403", se)
	}
	// An existing member on another socket is not a new member.
	a2 := dial(t, ws, app)
	subscribePresence(t, a2, app, ch, "a", nil)
	// Nobody heard of c; c's socket is fine.
	expectNext(t, a, protocol.EventMemberAdded, ch) // b
	barrier(t, api, ch, a, b, a2)
	pingPong(t, c)

	// Once b has left there is room for c.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitSubscriptions(t, eng, app, ch, 2)
	r := subscribePresence(t, c, app, ch, "c", nil)
	if r.Presence.Count != 2 {
		t.Errorf("roster after b left: %+v", r.Presence)
	}
}

func TestPresenceUserInfoLimit(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	c := dial(t, ws, app)
	limit := defaultLimits.MaxPresenceMemberSize
	// user_info is a JSON string: its quotes count, so limit-2 characters make limit bytes.
	fits := strings.Repeat("x", limit-2)
	r := subscribePresence(t, c, app, "presence-a", "u", fits)
	if r.Presence.Count != 1 {
		t.Errorf("roster: %+v", r.Presence)
	}
	auth, data, _ := creds(app).PresenceAuth(c.SocketID(), "presence-b", "u", fits+"x")
	se := subscriptionError(t, c, "presence-b", auth, data)
	if se.Type != protocol.SubscriptionErrorLimitReached || se.Status != 413 {
		t.Errorf("user_info of %d bytes: got %+v, want LimitReached 413", limit+1, se)
	}
	pingPong(t, c)
}

func TestClientEvents(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	api := apiFor(httpBase, app)

	t.Run("private", func(t *testing.T) {
		const ch = "private-chat"
		a, b, c := dial(t, ws, app), dial(t, ws, app), dial(t, ws, app)
		for _, x := range []*pusherclient.Client{a, b, c} {
			subscribePrivate(t, x, app, ch)
		}
		if err := a.SendClientEvent(ch, "client-typing", map[string]any{"text": "hi \"there\" ✓", "n": 1}); err != nil {
			t.Fatal(err)
		}
		for _, x := range []*pusherclient.Client{b, c} {
			m := expectNext(t, x, "client-typing", ch)
			if !jsonEqual(t, m.Data, []byte(`{"text":"hi \"there\" ✓","n":1}`)) {
				t.Errorf("client event data %s", m.Data)
			}
			if m.UserID != "" {
				t.Errorf("user_id %q on a private channel's client event", m.UserID)
			}
		}
		// Not echoed to the sender.
		barrier(t, api, ch, a, b, c)
	})

	t.Run("presence carries user_id", func(t *testing.T) {
		const ch = "presence-chat"
		a, b := dial(t, ws, app), dial(t, ws, app)
		subscribePresence(t, a, app, ch, "alice", nil)
		subscribePresence(t, b, app, ch, "bob", nil)
		expectNext(t, a, protocol.EventMemberAdded, ch)
		if err := a.SendClientEvent(ch, "client-wave", map[string]string{"to": "bob"}); err != nil {
			t.Fatal(err)
		}
		m := expectNext(t, b, "client-wave", ch)
		if m.UserID != "alice" {
			t.Errorf("client event from alice has user_id %q: %s", m.UserID, m.Raw)
		}
		barrier(t, api, ch, a, b)
	})

	t.Run("refused", func(t *testing.T) {
		noEvents := newApp("2", func(a *configs.App) { a.ClientEvents = false })
		ws2, httpBase2, _, _ := startServer(t, noEvents)
		cases := []struct {
			name    string
			app     *configs.App
			ws      string
			api     *pusherclient.API
			channel string
			join    func(t *testing.T, c *pusherclient.Client, app *configs.App, ch string)
			sender  func(t *testing.T, c *pusherclient.Client, app *configs.App, ch string)
			event   string
			data    any
		}{
			{name: "public channel", app: app, ws: ws, api: api, channel: "public-chat",
				join: func(t *testing.T, c *pusherclient.Client, _ *configs.App, ch string) { subscribePublic(t, c, ch) }},
			{name: "encrypted channel", app: app, ws: ws, api: api, channel: "private-encrypted-chat",
				join: subscribePrivate},
			{name: "client events disabled", app: noEvents, ws: ws2, api: apiFor(httpBase2, noEvents), channel: "private-chat",
				join: subscribePrivate},
			{name: "sender not subscribed", app: app, ws: ws, api: api, channel: "private-members",
				join: subscribePrivate, sender: func(*testing.T, *pusherclient.Client, *configs.App, string) {}},
			{name: "sender unsubscribed", app: app, ws: ws, api: api, channel: "private-left",
				join: subscribePrivate, sender: func(t *testing.T, c *pusherclient.Client, app *configs.App, ch string) {
					subscribePrivate(t, c, app, ch)
					if err := c.Unsubscribe(ch); err != nil {
						t.Fatal(err)
					}
				}},
			{name: "data over 10 KB", app: app, ws: ws, api: api, channel: "private-big",
				join: subscribePrivate, data: map[string]string{"s": strings.Repeat("x", defaultLimits.MaxEventDataSize)}},
			{name: "name over 200", app: app, ws: ws, api: api, channel: "private-long",
				join: subscribePrivate, event: "client-" + strings.Repeat("n", defaultLimits.MaxEventNameLength)},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				sender, peer := dial(t, tc.ws, tc.app), dial(t, tc.ws, tc.app)
				tc.join(t, peer, tc.app, tc.channel)
				if tc.sender != nil {
					tc.sender(t, sender, tc.app, tc.channel)
				} else {
					tc.join(t, sender, tc.app, tc.channel)
				}
				event, data := tc.event, tc.data
				if event == "" {
					event = "client-sneaky"
				}
				if data == nil {
					data = map[string]int{"x": 1}
				}
				if err := sender.SendClientEvent(tc.channel, event, data); err != nil {
					t.Fatal(err)
				}
				expectPusherError(t, sender)
				pingPong(t, sender)
				barrier(t, tc.api, tc.channel, peer) // the peer got nothing
			})
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		const ch = "private-fast"
		a, b := dial(t, ws, app), dial(t, ws, app)
		subscribePrivate(t, a, app, ch)
		subscribePrivate(t, b, app, ch)
		limit := app.Limits.MaxClientEventsPerSecond
		for i := range limit + 1 {
			if err := a.SendClientEvent(ch, "client-tick", map[string]int{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		e := expectPusherError(t, a)
		if e.Code == nil || *e.Code != protocol.CodeClientEventRateLimited {
			t.Errorf("over the rate: pusher:error %+v, want code %d", e, protocol.CodeClientEventRateLimited)
		}
		pingPong(t, a) // still open, and only one error
		for i := range limit {
			m := expectNext(t, b, "client-tick", ch)
			var d struct{ I int }
			if err := json.Unmarshal(m.Data, &d); err != nil || d.I != i {
				t.Fatalf("client event %d: %s", i, m.Raw)
			}
		}
		barrier(t, api, ch, b) // the event over the limit was dropped
	})
}

func TestSignin(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	c := dial(t, ws, app)
	userData := `{"id":"user-1","user_info":{"name":"Ann \"the\" ✓"},"watchlist":["user-2"]}`

	// A wrong signature is refused with 4009 and the socket stays open.
	wrong := pusherclient.App{Key: app.Key, Secret: "wrong"}.UserAuth(c.SocketID(), userData)
	m, err := c.Signin(testCtx(t), wrong, userData)
	var pe *pusherclient.PusherError
	if !errors.As(err, &pe) || pe.Code != protocol.CodeUnauthorized {
		t.Fatalf("sign-in with a wrong signature: %s, %v; want pusher:error %d", m.Raw, err, protocol.CodeUnauthorized)
	}
	// So is user_data without an id, even when signed.
	noID := `{"name":"x"}`
	m, err = c.Signin(testCtx(t), creds(app).UserAuth(c.SocketID(), noID), noID)
	if !errors.As(err, &pe) || pe.Code != protocol.CodeUnauthorized {
		t.Fatalf("sign-in without an id: %s, %v; want pusher:error %d", m.Raw, err, protocol.CodeUnauthorized)
	}
	pingPong(t, c)

	m, err = c.Signin(testCtx(t), creds(app).UserAuth(c.SocketID(), userData), userData)
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	var data struct {
		UserData string `json:"user_data"`
	}
	if err := m.Decode(&data); err != nil || data.UserData != userData {
		t.Fatalf("signin_success %s: user_data %q, %v", m.Raw, data.UserData, err)
	}
	pingPong(t, c)
}

func TestSigninRequired(t *testing.T) {
	app := newApp("1", func(a *configs.App) {
		a.UserAuthentication = true
		a.UserAuthenticationTimeout = 500 * time.Millisecond
	})
	ws, _, _, _ := startServer(t, app)

	signed := dial(t, ws, app)
	userData := `{"id":"u"}`
	if _, err := signed.Signin(testCtx(t), creds(app).UserAuth(signed.SocketID(), userData), userData); err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	unsigned := dial(t, ws, app)
	if code := closeCode(t, unsigned); code != protocol.CodeUnauthorized {
		t.Errorf("unsigned socket closed with %d, want %d", code, protocol.CodeUnauthorized)
	}
	// The signed socket's deadline passed before the unsigned one's: it stays.
	pingPong(t, signed)
}
