package pusherclient

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Pusher's documented worked examples (library auth reference: auth signatures, and the HTTP
// API's request signing), all with key 278d425bdf160c739803 and secret 7ad3773142a6692b25b8.
var docsApp = App{ID: "3", Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"}

func TestSigningAgainstPusherDocs(t *testing.T) {
	tests := []struct {
		name string
		got  func() string
		want string
	}{
		{"private channel auth", func() string { return docsApp.ChannelAuth("1234.1234", "private-foobar", "") },
			"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"presence channel auth", func() string {
			return docsApp.ChannelAuth("1234.1234", "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`)
		}, "278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"},
		{"user authentication", func() string { return docsApp.UserAuth("1234.1234", `{"id":"12345"}`) },
			"278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"},
		{"HTTP API body_md5", func() string {
			q := url.Values{}
			signQuery(docsApp.Key, docsApp.Secret, http.MethodPost, "/apps/3/events", q, []byte(docsEventBody), time.Unix(1353088179, 0))
			return q.Get("body_md5")
		}, "ec365a775a4cd0599faeb73354201b6f"},
		{"HTTP API string to sign", func() string {
			q := url.Values{}
			signQuery(docsApp.Key, docsApp.Secret, http.MethodPost, "/apps/3/events", q, []byte(docsEventBody), time.Unix(1353088179, 0))
			return stringToSign(http.MethodPost, "/apps/3/events", q)
		}, "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"},
		{"HTTP API auth_signature", func() string {
			q := url.Values{}
			signQuery(docsApp.Key, docsApp.Secret, http.MethodPost, "/apps/3/events", q, []byte(docsEventBody), time.Unix(1353088179, 0))
			return q.Get("auth_signature")
		}, "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.got(); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// docsEventBody is the body of the HTTP API example: an event to project-3.
const docsEventBody = `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`

func TestStringToSign(t *testing.T) {
	tests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{"keys lower-cased and sorted, signature left out", url.Values{"B": {"2"}, "a": {"1"}, "auth_signature": {"x"}}, "GET\n/p\na=1&b=2"},
		{"values not escaped", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count,subscription_count"}}, "GET\n/p\nfilter_by_prefix=presence-&info=user_count,subscription_count"},
		{"sorted by key, not by pair", url.Values{"a": {"x"}, "a1": {"y"}}, "GET\n/p\na=x&a1=y"},
		{"no query", url.Values{}, "GET\n/p\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stringToSign("get", "/p", tt.query); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	// No body, no body_md5.
	q := url.Values{}
	signQuery("k", "s", http.MethodGet, "/p", q, nil, time.Unix(1, 0))
	if q.Has("body_md5") || q.Get("auth_timestamp") != "1" || q.Get("auth_version") != "1.0" || len(q.Get("auth_signature")) != 64 {
		t.Fatalf("signed GET query %v", q)
	}
}

func TestPresenceAuth(t *testing.T) {
	auth, channelData, err := docsApp.PresenceAuth("1.2", "presence-a", "u\"1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if channelData != `{"user_id":"u\"1"}` {
		t.Fatalf("channelData = %s", channelData)
	}
	if want := docsApp.ChannelAuth("1.2", "presence-a", channelData); auth != want {
		t.Fatalf("PresenceAuth = %s, want the signature of its own channel_data %s", auth, want)
	}
	_, channelData, err = docsApp.PresenceAuth("1.2", "presence-a", "7", map[string]string{"name": "m7"})
	if err != nil || channelData != `{"user_id":"7","user_info":{"name":"m7"}}` {
		t.Fatalf("channelData = %s, %v", channelData, err)
	}
	if _, _, err := docsApp.PresenceAuth("1.2", "presence-a", "u", func() {}); err == nil {
		t.Fatal("PresenceAuth accepted unencodable user_info")
	}
	if got := docsApp.WebSocketURL("ws://127.0.0.1:6001"); got != "ws://127.0.0.1:6001/app/278d425bdf160c739803?protocol=7&client=go&version=0.1&flash=false" {
		t.Fatalf("WebSocketURL = %s", got)
	}
}

func TestSubscribeFrame(t *testing.T) {
	var f struct {
		Event string `json:"event"`
		Data  struct {
			Channel     string `json:"channel"`
			Auth        string `json:"auth"`
			ChannelData string `json:"channel_data"`
		} `json:"data"`
	}
	if err := json.Unmarshal(SubscribeFrame("presence-a", "k:s", `{"user_id":"1"}`), &f); err != nil {
		t.Fatal(err)
	}
	if f.Event != EventSubscribe || f.Data.Channel != "presence-a" || f.Data.Auth != "k:s" || f.Data.ChannelData != `{"user_id":"1"}` {
		t.Fatalf("frame %+v", f)
	}
	if b := string(SubscribeFrame("public", "", "")); strings.Contains(b, "auth") || strings.Contains(b, "channel_data") {
		t.Fatalf("public subscribe carries auth fields: %s", b)
	}
}

func TestAPITrigger(t *testing.T) {
	fs := newFakeServer(t)
	api := fs.api(testApp)
	ctx := testContext(t)
	res, err := api.Trigger(ctx, []string{"a", "b"}, "my-event", `{"x":"y"}`, TriggerOptions{SocketID: "1.2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Channels) != 0 {
		t.Fatalf("channels without info: %+v", res)
	}
	res, err = api.Trigger(ctx, []string{"a"}, "my-event", "12345", TriggerOptions{Info: []string{"subscription_count", "user_count"}})
	if err != nil {
		t.Fatal(err)
	}
	if ci := res.Channels["a"]; ci.SubscriptionCount == nil || *ci.SubscriptionCount != 5 || ci.UserCount != nil {
		t.Fatalf("channel info = %+v", res.Channels)
	}
	_, err = api.Trigger(ctx, []string{"a"}, "", "x", TriggerOptions{})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("empty name: %v", err)
	}
}

func TestAPITriggerBatch(t *testing.T) {
	fs := newFakeServer(t)
	res, err := fs.api(testApp).TriggerBatch(testContext(t), []BatchEvent{
		{Channel: "a", Name: "e1", Data: "{}"},
		{Channel: "b", Name: "event2", Data: "{}", Info: "subscription_count"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Batch) != 2 || *res.Batch[1].SubscriptionCount != len("event2") {
		t.Fatalf("batch = %+v", res)
	}
}

func TestAPIGet(t *testing.T) {
	fs := newFakeServer(t)
	api := fs.api(testApp)
	ctx := testContext(t)
	var list struct {
		Channels map[string]ChannelInfo `json:"channels"`
	}
	status, err := api.Get(ctx, api.AppPath("/channels"), url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, &list)
	if err != nil || status != http.StatusOK {
		t.Fatalf("Get = %d, %v", status, err)
	}
	if ci, ok := list.Channels["presence-x"]; !ok || *ci.UserCount != 3 {
		t.Fatalf("channels = %+v", list)
	}
	// A channel name with characters that need escaping in a path is signed as the server sees it.
	var one struct {
		ChannelInfo
		Name string `json:"name"`
	}
	if _, err := api.Get(ctx, api.AppPath("/channels/a=b@c,d;e"), nil, &one); err != nil || !one.Occupied || one.Name != "a=b@c,d;e" {
		t.Fatalf("Get channel = %+v, %v", one, err)
	}
	status, err = api.Get(ctx, api.AppPath("/nothing"), nil, nil)
	var ae *APIError
	if !errors.As(err, &ae) || status != http.StatusNotFound || ae.Status != http.StatusNotFound || !strings.Contains(ae.Body, "no such endpoint") {
		t.Fatalf("Get unknown = %d, %v", status, err)
	}
}

func TestAPIRefusedSignatures(t *testing.T) {
	fs := newFakeServer(t)
	ctx := testContext(t)
	tests := []struct {
		name string
		api  *API
	}{
		{"wrong secret", fs.api(App{ID: "1", Key: testApp.Key, Secret: "nope"})},
		{"wrong key", fs.api(App{ID: "1", Key: "other", Secret: testApp.Secret})},
		{"clock 601 s behind", func() *API {
			a := fs.api(testApp)
			a.Now = func() time.Time { return time.Now().Add(-601 * time.Second) }
			return a
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.api.Trigger(ctx, []string{"a"}, "e", "d", TriggerOptions{})
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
				t.Fatalf("Trigger = %v, want 401", err)
			}
		})
	}
}

func TestAPIDo(t *testing.T) {
	fs := newFakeServer(t)
	api := fs.api(testApp)
	ctx := testContext(t)
	query := url.Values{"info": {"user_count"}}
	status, body, err := api.Do(ctx, http.MethodGet, "/apps/1/channels", query, nil)
	if err != nil || status != http.StatusOK || !strings.Contains(string(body), "channels") {
		t.Fatalf("Do = %d %s %v", status, body, err)
	}
	if len(query) != 1 {
		t.Fatalf("Do changed the caller's query: %v", query)
	}

	// A query that already has a signature is sent as it is.
	status, body, err = api.Do(ctx, http.MethodGet, "/apps/1/channels", url.Values{"auth_key": {testApp.Key}, "auth_signature": {"bad"}}, nil)
	if err != nil || status != http.StatusUnauthorized || !strings.Contains(string(body), "missing") {
		t.Fatalf("hand-made query: %d %s %v", status, body, err)
	}

	// A signed body that is not the body sent is refused.
	q := url.Values{}
	signQuery(testApp.Key, testApp.Secret, http.MethodPost, "/apps/1/events", q, []byte(`{"name":"a"}`), time.Now())
	status, body, err = api.Do(ctx, http.MethodPost, "/apps/1/events", q, []byte(`{"name":"b"}`))
	if err != nil || status != http.StatusUnauthorized || !strings.Contains(string(body), "body_md5") {
		t.Fatalf("tampered body: %d %s %v", status, body, err)
	}

	if _, _, err := (&API{BaseURL: "://bad", App: testApp}).Do(ctx, http.MethodGet, "/x", nil, nil); err == nil {
		t.Fatal("bad base URL accepted")
	}
}
