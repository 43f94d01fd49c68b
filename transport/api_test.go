package transport_test

import (
	"github.com/jonboulle/clockwork"

	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/transport"
)

func TestAPITrigger(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	api := apiFor(httpBase, app)

	t.Run("one channel", func(t *testing.T) {
		c := dial(t, ws, app)
		subscribePublic(t, c, "one")
		res, err := api.Trigger(testCtx(t), []string{"one"}, "greet", `{"hi":1}`, pusherclient.TriggerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Channels) != 0 {
			t.Errorf("result without info has channels: %+v", res)
		}
		m := expectNext(t, c, "greet", "one")
		if m.UserID != "" {
			t.Errorf("an API event has user_id %q", m.UserID)
		}
		// The older single "channel" field.
		status, body := apiDo(t, api, http.MethodPost, api.AppPath("/events"), nil,
			[]byte(`{"name":"greet","channel":"one","data":"x"}`))
		if status != http.StatusOK {
			t.Fatalf("trigger with channel: %d %s", status, body)
		}
		if s, _ := expectNext(t, c, "greet", "one").DataString(); s != "x" {
			t.Errorf("data %q", s)
		}
	})

	t.Run("several channels", func(t *testing.T) {
		both, onlyB := dial(t, ws, app), dial(t, ws, app)
		subscribePublic(t, both, "multi-a")
		subscribePublic(t, both, "multi-b")
		subscribePublic(t, onlyB, "multi-b")
		if _, err := api.Trigger(testCtx(t), []string{"multi-a", "multi-b", "multi-nobody"}, "news", "d", pusherclient.TriggerOptions{}); err != nil {
			t.Fatal(err)
		}
		// One frame per channel; the channels are independent, so in either order.
		got := []string{next(t, both).Channel, next(t, both).Channel}
		slices.Sort(got)
		if !slices.Equal(got, []string{"multi-a", "multi-b"}) {
			t.Errorf("subscriber of both got events on %v", got)
		}
		expectNext(t, onlyB, "news", "multi-b")
		barrier(t, api, "multi-a", both)
		barrier(t, api, "multi-b", both, onlyB)
	})

	t.Run("socket_id excluded", func(t *testing.T) {
		a, b := dial(t, ws, app), dial(t, ws, app)
		subscribePublic(t, a, "excl")
		subscribePublic(t, b, "excl")
		if _, err := api.Trigger(testCtx(t), []string{"excl"}, "own-change", "d", pusherclient.TriggerOptions{SocketID: a.SocketID()}); err != nil {
			t.Fatal(err)
		}
		expectNext(t, b, "own-change", "excl")
		barrier(t, api, "excl", a, b)
	})

	t.Run("info in the response", func(t *testing.T) {
		const pres = "presence-info"
		u1a, u1b, u2 := dial(t, ws, app), dial(t, ws, app), dial(t, ws, app)
		subscribePresence(t, u1a, app, pres, "u1", nil)
		subscribePresence(t, u1b, app, pres, "u1", nil)
		subscribePresence(t, u2, app, pres, "u2", nil)
		subscribePublic(t, u2, "info-pub")

		res, err := api.Trigger(testCtx(t), []string{pres}, "e", "d", pusherclient.TriggerOptions{Info: []string{"subscription_count", "user_count"}})
		if err != nil {
			t.Fatal(err)
		}
		got := res.Channels[pres]
		if got.SubscriptionCount == nil || *got.SubscriptionCount != 3 || got.UserCount == nil || *got.UserCount != 2 {
			t.Errorf("info of %s: %s", pres, mustJSON(t, res))
		}
		res, err = api.Trigger(testCtx(t), []string{pres, "info-pub"}, "e", "d", pusherclient.TriggerOptions{Info: []string{"subscription_count"}})
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Channels["info-pub"].SubscriptionCount; c == nil || *c != 1 || res.Channels["info-pub"].UserCount != nil {
			t.Errorf("info of info-pub: %s", mustJSON(t, res))
		}
		if c := res.Channels[pres].SubscriptionCount; c == nil || *c != 3 {
			t.Errorf("info of %s: %s", pres, mustJSON(t, res))
		}
		// user_count exists only on presence channels.
		status, body := apiDo(t, api, http.MethodPost, api.AppPath("/events"), nil,
			mustJSON(t, map[string]any{"name": "e", "channels": []string{pres, "info-pub"}, "data": "d", "info": "user_count"}))
		assertAPIError(t, status, body, http.StatusBadRequest)
	})

	t.Run("data round-trips as a string", func(t *testing.T) {
		c := dial(t, ws, app)
		subscribePublic(t, c, "data")
		for _, data := range []string{
			"plain",
			"",
			`{"nested":{"json":[1,2.5,true,null]},"s":"x"}`,
			`"a JSON string"`,
			`[1,2,3]`,
			`quotes " and \ backslash \" and \\u0041`,
			"unicode ✓ 日本語 😀 \u00e9",
			"control \n\t\r\x01 and \u2028\u2029 separators",
			"<script>alert('&')</script>",
			strings.Repeat("é", 5000), // 10000 bytes, within 10 KB
		} {
			if _, err := api.Trigger(testCtx(t), []string{"data"}, "d", data, pusherclient.TriggerOptions{}); err != nil {
				t.Fatalf("trigger %q: %v", data, err)
			}
			m := expectNext(t, c, "d", "data")
			if len(m.Data) == 0 || m.Data[0] != '"' {
				t.Errorf("data of %q is not sent as a JSON string: %s", data, m.Raw)
			}
			if got, err := m.DataString(); err != nil || got != data {
				t.Errorf("data %q came back as %q (%v)", data, got, err)
			}
		}
	})

	t.Run("batch", func(t *testing.T) {
		const pres = "presence-batch"
		a, b := dial(t, ws, app), dial(t, ws, app)
		subscribePublic(t, a, "batch-pub")
		subscribePublic(t, b, "batch-pub")
		subscribePresence(t, a, app, pres, "ua", nil)

		res, err := api.TriggerBatch(testCtx(t), []pusherclient.BatchEvent{
			{Channel: "batch-pub", Name: "first", Data: "1"},
			{Channel: pres, Name: "second", Data: `{"two":2}`, Info: "subscription_count,user_count"},
			{Channel: "batch-pub", Name: "third", Data: "3", SocketID: a.SocketID(), Info: "subscription_count"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Batch) != 3 {
			t.Fatalf("batch result %s, want 3 entries", mustJSON(t, res))
		}
		if e := res.Batch[0]; e.SubscriptionCount != nil || e.UserCount != nil {
			t.Errorf("batch[0] asked for no info: %s", mustJSON(t, e))
		}
		if e := res.Batch[1]; e.SubscriptionCount == nil || *e.SubscriptionCount != 1 || e.UserCount == nil || *e.UserCount != 1 {
			t.Errorf("batch[1]: %s", mustJSON(t, e))
		}
		if e := res.Batch[2]; e.SubscriptionCount == nil || *e.SubscriptionCount != 2 || e.UserCount != nil {
			t.Errorf("batch[2]: %s", mustJSON(t, e))
		}
		expectEventData(t, b, "first", "batch-pub", "1")
		expectEventData(t, b, "third", "batch-pub", "3")
		// a: "first" on batch-pub and "second" on the presence channel (independent, either order),
		// and not "third", which excluded it.
		got := map[string]string{}
		for range 2 {
			m := next(t, a)
			s, _ := m.DataString()
			got[m.Event+"@"+m.Channel] = s
		}
		if want := map[string]string{"first@batch-pub": "1", "second@" + pres: `{"two":2}`}; !maps.Equal(got, want) {
			t.Errorf("a got %v, want %v", got, want)
		}
		barrier(t, api, "batch-pub", a, b)

		// Without info the result is empty.
		res, err = api.TriggerBatch(testCtx(t), []pusherclient.BatchEvent{{Channel: "batch-pub", Name: "n", Data: "d"}})
		if err != nil || len(res.Batch) != 0 {
			t.Errorf("batch without info: %s, %v", mustJSON(t, res), err)
		}
	})
}

func expectEventData(t *testing.T, c *pusherclient.Client, event, channel, data string) {
	t.Helper()
	m := expectNext(t, c, event, channel)
	if s, err := m.DataString(); err != nil || s != data {
		t.Errorf("%s on %s: data %q, want %q", event, channel, s, data)
	}
}

func TestAPITriggerRejected(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	api := apiFor(httpBase, app)
	c := dial(t, ws, app)
	subscribePublic(t, c, "news")

	channels := func(n int) []string {
		out := []string{"news"}
		for i := 1; i < n; i++ {
			out = append(out, "ch-"+strconv.Itoa(i))
		}
		return out
	}
	event := func(fields map[string]any) map[string]any {
		ev := map[string]any{"name": "e", "channels": []string{"news"}, "data": "d"}
		for k, v := range fields {
			if v == nil {
				delete(ev, k)
			} else {
				ev[k] = v
			}
		}
		return ev
	}
	batch := func(n int, fields map[string]any) map[string]any {
		var b []map[string]any
		for range n {
			ev := event(fields)
			delete(ev, "channels")
			if _, ok := fields["channel"]; !ok {
				ev["channel"] = "news"
			}
			b = append(b, ev)
		}
		return map[string]any{"batch": b}
	}
	maxData := defaultLimits.MaxEventDataSize
	maxName := defaultLimits.MaxEventNameLength

	cases := []struct {
		name   string
		path   string
		body   any // marshalled, unless a string
		status int
	}{
		{"101 channels", "/events", event(map[string]any{"channels": channels(101)}), 400},
		{"data over 10 KB", "/events", event(map[string]any{"data": strings.Repeat("x", maxData+1)}), 413},
		{"data over 10 KB in multi-byte characters", "/events", event(map[string]any{"data": strings.Repeat("é", maxData/2+1)}), 413},
		{"event name over 200", "/events", event(map[string]any{"name": strings.Repeat("n", maxName+1)}), 400},
		{"no event name", "/events", event(map[string]any{"name": nil}), 400},
		{"no channels", "/events", event(map[string]any{"channels": nil}), 400},
		{"empty channels", "/events", event(map[string]any{"channels": []string{}}), 400},
		{"bad channel name", "/events", event(map[string]any{"channels": []string{"news", "bad name"}}), 400},
		{"channel name over 164", "/events", event(map[string]any{"channels": []string{"news", strings.Repeat("c", 165)}}), 400},
		{"bad socket_id", "/events", event(map[string]any{"socket_id": "not-a-socket"}), 400},
		{"unknown info", "/events", event(map[string]any{"info": "bogus"}), 400},
		{"invalid JSON", "/events", `{"name":"e","channels":["news"],`, 400},
		{"JSON not an object", "/events", `[1,2]`, 400},
		{"empty body", "/events", ``, 400},
		{"11 batch events", "/batch_events", batch(11, nil), 400},
		{"empty batch", "/batch_events", map[string]any{"batch": []any{}}, 400},
		{"batch invalid JSON", "/batch_events", `{"batch":[`, 400},
		{"batch event with bad channel", "/batch_events", batch(2, map[string]any{"channel": "bad name"}), 400},
		{"batch event data over 10 KB", "/batch_events", batch(2, map[string]any{"data": strings.Repeat("x", maxData+1)}), 413},
		{"batch event name over 200", "/batch_events", batch(2, map[string]any{"name": strings.Repeat("n", maxName+1)}), 400},
		{"batch user_count on a public channel", "/batch_events", batch(1, map[string]any{"info": "user_count"}), 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if s, ok := tc.body.(string); ok {
				body = []byte(s)
			} else {
				body = mustJSON(t, tc.body)
			}
			status, resp := apiDo(t, api, http.MethodPost, api.AppPath(tc.path), nil, body)
			assertAPIError(t, status, resp, tc.status)
		})
	}
	// Nothing of a refused request was published.
	barrier(t, api, "news", c)

	// The limits themselves are allowed.
	for _, tc := range []struct {
		name string
		path string
		body any
	}{
		{"100 channels", "/events", event(map[string]any{"channels": channels(100)})},
		{"data of 10 KB", "/events", event(map[string]any{"data": strings.Repeat("x", maxData)})},
		{"event name of 200", "/events", event(map[string]any{"name": strings.Repeat("n", maxName)})},
		{"10 batch events", "/batch_events", batch(10, nil)},
	} {
		status, resp := apiDo(t, api, http.MethodPost, api.AppPath(tc.path), nil, mustJSON(t, tc.body))
		if status != http.StatusOK {
			t.Errorf("%s: %d %s", tc.name, status, resp)
		}
	}
	expectNext(t, c, "e", "news")
	if m := expectNext(t, c, "e", "news"); len(m.Data) < maxData {
		t.Errorf("10 KB event arrived with %d bytes of data", len(m.Data))
	}
	expectNext(t, c, strings.Repeat("n", maxName), "news")
	for range 10 {
		expectNext(t, c, "e", "news")
	}
	barrier(t, api, "news", c)
}

func TestAPIChannels(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	api := apiFor(httpBase, app)
	c1, c2 := dial(t, ws, app), dial(t, ws, app)
	subscribePublic(t, c1, "news")
	subscribePublic(t, c2, "news")
	subscribePrivate(t, c1, app, "private-x")
	subscribePresence(t, c1, app, "presence-room", "u1", nil)
	subscribePresence(t, c2, app, "presence-room", "u2", nil)
	subscribePresence(t, c2, app, "presence-other", "u3", nil)

	type channelList struct {
		Channels map[string]map[string]int `json:"channels"`
	}
	list := func(t *testing.T, q url.Values) channelList {
		t.Helper()
		var l channelList
		if _, err := api.Get(testCtx(t), api.AppPath("/channels"), q, &l); err != nil {
			t.Fatalf("GET /channels?%s: %v", q.Encode(), err)
		}
		return l
	}

	t.Run("list", func(t *testing.T) {
		l := list(t, nil)
		if got := slices.Sorted(maps.Keys(l.Channels)); !slices.Equal(got, []string{"news", "presence-other", "presence-room", "private-x"}) {
			t.Errorf("channels %v", got)
		}
		for name, attrs := range l.Channels {
			if len(attrs) != 0 {
				t.Errorf("%s has attributes %v without info", name, attrs)
			}
		}
		l = list(t, url.Values{"filter_by_prefix": {"presence-"}})
		if got := slices.Sorted(maps.Keys(l.Channels)); !slices.Equal(got, []string{"presence-other", "presence-room"}) {
			t.Errorf("presence- channels %v", got)
		}
		l = list(t, url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}})
		if l.Channels["presence-room"]["user_count"] != 2 || l.Channels["presence-other"]["user_count"] != 1 || len(l.Channels) != 2 {
			t.Errorf("presence- channels with user_count: %v", l.Channels)
		}
		l = list(t, url.Values{"filter_by_prefix": {"private-"}})
		if got := slices.Sorted(maps.Keys(l.Channels)); !slices.Equal(got, []string{"private-x"}) {
			t.Errorf("private- channels %v", got)
		}
		l = list(t, url.Values{"filter_by_prefix": {"nothing-"}})
		if l.Channels == nil || len(l.Channels) != 0 {
			t.Errorf("no match: %v, want an empty channels object", l.Channels)
		}
		for _, q := range []url.Values{
			{"info": {"user_count"}},
			{"info": {"user_count"}, "filter_by_prefix": {"private-"}},
			{"info": {"bogus"}},
		} {
			status, body := apiDo(t, api, http.MethodGet, api.AppPath("/channels"), q, nil)
			assertAPIError(t, status, body, http.StatusBadRequest)
		}
	})

	t.Run("one channel", func(t *testing.T) {
		info := func(t *testing.T, name string, q url.Values) map[string]any {
			t.Helper()
			var out map[string]any
			if _, err := api.Get(testCtx(t), api.AppPath("/channels/"+name), q, &out); err != nil {
				t.Fatalf("GET /channels/%s?%s: %v", name, q.Encode(), err)
			}
			return out
		}
		if got := info(t, "news", nil); !maps.Equal(got, map[string]any{"occupied": true}) {
			t.Errorf("news: %v", got)
		}
		if got := info(t, "news", url.Values{"info": {"subscription_count"}}); got["occupied"] != true || got["subscription_count"] != 2.0 {
			t.Errorf("news with subscription_count: %v", got)
		}
		if got := info(t, "nobody-here", nil); got["occupied"] != false {
			t.Errorf("unoccupied channel: %v", got)
		}
		got := info(t, "presence-room", url.Values{"info": {"user_count,subscription_count"}})
		if got["occupied"] != true || got["user_count"] != 2.0 || got["subscription_count"] != 2.0 {
			t.Errorf("presence-room: %v", got)
		}
		for _, tc := range []struct {
			name string
			q    url.Values
		}{
			{"news", url.Values{"info": {"user_count"}}},
			{"private-x", url.Values{"info": {"user_count"}}},
			{"news", url.Values{"info": {"bogus"}}},
			{"bad name", nil},
			{strings.Repeat("c", 165), nil},
		} {
			status, body := apiDo(t, api, http.MethodGet, api.AppPath("/channels/"+tc.name), tc.q, nil)
			assertAPIError(t, status, body, http.StatusBadRequest)
		}
	})

	t.Run("users", func(t *testing.T) {
		assertUsers(t, api, "presence-room", "u1", "u2")
		assertUsers(t, api, "presence-nobody")
		for _, name := range []string{"news", "private-x", "private-encrypted-x"} {
			status, body := apiDo(t, api, http.MethodGet, api.AppPath("/channels/"+name+"/users"), nil, nil)
			assertAPIError(t, status, body, http.StatusBadRequest)
		}
	})

	t.Run("vacated channels leave the list", func(t *testing.T) {
		if err := c2.Close(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "presence-other to leave the channel list", func() bool {
			_, ok := list(t, nil).Channels["presence-other"]
			return !ok
		})
		assertUsers(t, api, "presence-room", "u1")
		var got map[string]any
		if _, err := api.Get(testCtx(t), api.AppPath("/channels/presence-other"), nil, &got); err != nil || got["occupied"] != false {
			t.Errorf("presence-other after its member left: %v, %v", got, err)
		}
	})
}

func TestAPIAuth(t *testing.T) {
	app := newApp("1")
	appB := newApp("2")
	disabled := newApp("3", func(a *configs.App) { a.Enabled = false })
	ws, httpBase, _, _ := startServer(t, app, appB, disabled)
	api := apiFor(httpBase, app)
	c := dial(t, ws, app)
	subscribePublic(t, c, "news")

	eventsPath := api.AppPath("/events")
	body := mustJSON(t, map[string]any{"name": "e", "channels": []string{"news"}, "data": "d"})
	signed := func(method, path string, body []byte, now time.Time, edit func(q url.Values)) url.Values {
		q := url.Values{}
		creds(app).SignRequest(method, path, q, body, now)
		if edit != nil {
			edit(q)
		}
		return q
	}

	t.Run("401", func(t *testing.T) {
		cases := []struct {
			name   string
			method string
			path   string
			query  url.Values
			body   []byte
			api    *pusherclient.API
		}{
			{name: "wrong signature", method: "POST", path: eventsPath, body: body,
				query: signed("POST", eventsPath, body, time.Now(), func(q url.Values) { q.Set("auth_signature", strings.Repeat("0", 64)) })},
			{name: "signed with another secret", method: "POST", path: eventsPath, body: body,
				api: &pusherclient.API{BaseURL: httpBase, App: pusherclient.App{ID: app.ID, Key: app.Key, Secret: "wrong"}}},
			{name: "stale timestamp", method: "POST", path: eventsPath, body: body,
				api: &pusherclient.API{BaseURL: httpBase, App: creds(app), Now: func() time.Time { return time.Now().Add(-601 * time.Second) }}},
			{name: "future timestamp", method: "POST", path: eventsPath, body: body,
				api: &pusherclient.API{BaseURL: httpBase, App: creds(app), Now: func() time.Time { return time.Now().Add(601 * time.Second) }}},
			{name: "wrong body_md5", method: "POST", path: eventsPath, body: body,
				query: signed("POST", eventsPath, []byte(`{"name":"other"}`), time.Now(), nil)},
			{name: "body_md5 for an empty body", method: "GET", path: api.AppPath("/channels"),
				query: signed("GET", api.AppPath("/channels"), []byte("x"), time.Now(), nil)},
			{name: "signed for another path", method: "GET", path: api.AppPath("/channels/news"),
				query: signed("GET", api.AppPath("/channels"), nil, time.Now(), nil)},
			{name: "signed for another method", method: "POST", path: eventsPath, body: body,
				query: signed("PUT", eventsPath, body, time.Now(), nil)},
			{name: "query changed after signing", method: "GET", path: api.AppPath("/channels"),
				query: signed("GET", api.AppPath("/channels"), nil, time.Now(), func(q url.Values) { q.Set("filter_by_prefix", "presence-") })},
			{name: "auth_version 2.0", method: "GET", path: api.AppPath("/channels"),
				query: signed("GET", api.AppPath("/channels"), nil, time.Now(), func(q url.Values) { q.Set("auth_version", "2.0") })},
			{name: "app A's credentials on app B", method: "POST", path: "/apps/" + appB.ID + "/events", body: body,
				api: &pusherclient.API{BaseURL: httpBase, App: pusherclient.App{ID: appB.ID, Key: app.Key, Secret: app.Secret}}},
			{name: "app B's key with app A's secret", method: "GET", path: "/apps/" + appB.ID + "/channels",
				api: &pusherclient.API{BaseURL: httpBase, App: pusherclient.App{ID: appB.ID, Key: appB.Key, Secret: app.Secret}}},
		}
		for _, param := range []string{"auth_key", "auth_timestamp", "auth_version"} {
			cases = append(cases, struct {
				name   string
				method string
				path   string
				query  url.Values
				body   []byte
				api    *pusherclient.API
			}{name: "missing " + param, method: "GET", path: api.AppPath("/channels"),
				query: signed("GET", api.AppPath("/channels"), nil, time.Now(), func(q url.Values) { q.Del(param) })})
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				a := tc.api
				if a == nil {
					a = api
				}
				status, resp := apiDo(t, a, tc.method, tc.path, tc.query, tc.body)
				assertAPIError(t, status, resp, http.StatusUnauthorized)
			})
		}
		// Without any auth parameter (pusherclient would sign, so plain HTTP).
		for _, path := range []string{api.AppPath("/channels"), api.AppPath("/channels?auth_key=" + app.Key)} {
			status, resp, _ := plainRequest(t, http.MethodGet, httpBase+path, nil)
			assertAPIError(t, status, resp, http.StatusUnauthorized)
		}
		status, resp, _ := plainRequest(t, http.MethodPost, httpBase+eventsPath, body)
		assertAPIError(t, status, resp, http.StatusUnauthorized)
		barrier(t, api, "news", c) // nothing was published
	})

	t.Run("timestamp within the window", func(t *testing.T) {
		for _, skew := range []time.Duration{-590 * time.Second, 590 * time.Second} {
			a := &pusherclient.API{BaseURL: httpBase, App: creds(app), Now: func() time.Time { return time.Now().Add(skew) }}
			if _, err := a.Trigger(testCtx(t), []string{"news"}, "skewed", "d", pusherclient.TriggerOptions{}); err != nil {
				t.Errorf("clock skewed by %v: %v", skew, err)
			}
			expectNext(t, c, "skewed", "news")
		}
	})

	t.Run("unknown app 404", func(t *testing.T) {
		a := &pusherclient.API{BaseURL: httpBase, App: pusherclient.App{ID: "999", Key: app.Key, Secret: app.Secret}}
		for _, tc := range []struct{ method, suffix string }{{"POST", "/events"}, {"POST", "/batch_events"}, {"GET", "/channels"}, {"GET", "/channels/news"}, {"GET", "/channels/presence-x/users"}} {
			var b []byte
			if tc.method == "POST" {
				b = body
			}
			status, resp := apiDo(t, a, tc.method, a.AppPath(tc.suffix), nil, b)
			assertAPIError(t, status, resp, http.StatusNotFound)
		}
	})

	t.Run("disabled app 403", func(t *testing.T) {
		a := apiFor(httpBase, disabled)
		status, resp := apiDo(t, a, "POST", a.AppPath("/events"), nil, body)
		assertAPIError(t, status, resp, http.StatusForbidden)
		status, resp = apiDo(t, a, "GET", a.AppPath("/channels"), nil, nil)
		assertAPIError(t, status, resp, http.StatusForbidden)
	})

	t.Run("unknown path 404", func(t *testing.T) {
		for _, path := range []string{api.AppPath("/nope"), api.AppPath("/channels/news/nope"), "/apps", "/nope"} {
			status, resp := apiDo(t, api, http.MethodGet, path, nil, nil)
			assertAPIError(t, status, resp, http.StatusNotFound)
		}
	})

	t.Run("errors are JSON", func(t *testing.T) {
		for _, tc := range []struct {
			method, url string
			body        []byte
		}{
			{"GET", httpBase + "/nope", nil},
			{"GET", httpBase + api.AppPath("/channels"), nil},
			{"GET", httpBase + "/apps/999/channels", nil},
			{"POST", httpBase + eventsPath + "?" + signed("POST", eventsPath, []byte("{"), time.Now(), nil).Encode(), []byte("{")},
		} {
			status, resp, header := plainRequest(t, tc.method, tc.url, tc.body)
			if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s %s: %d with Content-Type %q", tc.method, tc.url, status, ct)
			}
			var e map[string]any
			if err := json.Unmarshal(resp, &e); err != nil {
				t.Errorf("%s %s: body %q: %v", tc.method, tc.url, resp, err)
			} else if s, ok := e["error"].(string); !ok || s == "" {
				t.Errorf("%s %s: body %q has no error string", tc.method, tc.url, resp)
			}
		}
	})
}

func plainRequest(t *testing.T, method, u string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(testCtx(t), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// TestReplayOutsideTimestampWindow: a request captured when signed is accepted, and the same
// bytes replayed once its auth_timestamp is more than 600 s old are refused with 401. The
// server's clock is a fake one, moved past the window.
func TestReplayOutsideTimestampWindow(t *testing.T) {
	app := newApp("1")
	clock := clockwork.NewFakeClockAt(time.Now().Truncate(time.Second)) // timestamps are whole seconds
	_, httpBase, _, _ := startServerWith(t, testOpts{deps: transport.Deps{Clock: clock}}, app)
	api := apiFor(httpBase, app)
	path := api.AppPath("/events")
	body := mustJSON(t, map[string]any{"name": "replayed", "channel": "replay", "data": "{}"})
	q := url.Values{}
	creds(app).SignRequest(http.MethodPost, path, q, body, clock.Now())
	if status, resp := apiDo(t, api, http.MethodPost, path, q, body); status != http.StatusOK {
		t.Fatalf("first send: %d %s", status, resp)
	}
	clock.Advance(protocol.HTTPTimestampWindow)
	if status, resp := apiDo(t, api, http.MethodPost, path, q, body); status != http.StatusOK {
		t.Fatalf("replayed at the edge of the window: %d %s", status, resp)
	}
	clock.Advance(time.Second)
	status, resp := apiDo(t, api, http.MethodPost, path, q, body)
	assertAPIError(t, status, resp, http.StatusUnauthorized)
}

// TestAPIBatchInOrderPerChannel: a batch's events reach a subscriber in the batch's order on each
// channel, though the channels are published at once.
func TestAPIBatchInOrderPerChannel(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	api := apiFor(httpBase, app)
	c := dial(t, ws, app)
	subscribePublic(t, c, "a")
	subscribePublic(t, c, "b")
	var batch []map[string]any
	for i, ch := range []string{"a", "b", "a", "b", "a", "a", "b", "a", "b", "a"} {
		batch = append(batch, map[string]any{"name": "e", "channel": ch, "data": strconv.Itoa(i)})
	}
	if status, resp := apiDo(t, api, http.MethodPost, api.AppPath("/batch_events"), nil, mustJSON(t, map[string]any{"batch": batch})); status != http.StatusOK {
		t.Fatalf("batch: %d %s", status, resp)
	}
	got := map[string][]string{}
	for range batch {
		m := next(t, c)
		data, err := m.DataString()
		if err != nil {
			t.Fatalf("data of %s: %v", m.Raw, err)
		}
		got[m.Channel] = append(got[m.Channel], data)
	}
	if strings.Join(got["a"], " ") != "0 2 4 5 7 9" || strings.Join(got["b"], " ") != "1 3 6 8" {
		t.Fatalf("per channel: %v", got)
	}
}
