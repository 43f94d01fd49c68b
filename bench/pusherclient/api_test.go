package pusherclient

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/protocol"
)

func TestAppSigning(t *testing.T) {
	docs := App{ID: "3", Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"}
	const want = "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
	if got := docs.ChannelAuth("1234.1234", "private-foobar", ""); got != want {
		t.Fatalf("ChannelAuth = %s, want the Pusher docs' %s", got, want)
	}
	userData := `{"id":"u1"}`
	if got := docs.UserAuth("1.2", userData); !protocol.VerifyUserAuth(docs.Key, docs.Secret, "1.2", userData, got) {
		t.Fatalf("UserAuth %s does not verify", got)
	}
	auth, channelData, err := docs.PresenceAuth("1.2", "presence-a", "u\"1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if channelData != `{"user_id":"u\"1"}` {
		t.Fatalf("channelData = %s", channelData)
	}
	if !protocol.VerifyChannelAuth(docs.Key, docs.Secret, "1.2", "presence-a", channelData, auth) {
		t.Fatal("PresenceAuth does not verify")
	}
	pd, err := protocol.ParsePresenceChannelData(channelData)
	if err != nil || pd.UserID != "u\"1" {
		t.Fatalf("channel data parses to %+v, %v", pd, err)
	}
	if _, _, err := docs.PresenceAuth("1.2", "presence-a", "u", func() {}); err == nil {
		t.Fatal("PresenceAuth accepted unencodable user_info")
	}
	if got := docs.WebSocketURL("ws://127.0.0.1:6001"); got != "ws://127.0.0.1:6001/app/278d425bdf160c739803?protocol=7&client=go&version=0.1&flash=false" {
		t.Fatalf("WebSocketURL = %s", got)
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
	protocol.SignHTTPRequest(testApp.Key, testApp.Secret, http.MethodPost, "/apps/1/events", q, []byte(`{"name":"a"}`), time.Now())
	status, body, err = api.Do(ctx, http.MethodPost, "/apps/1/events", q, []byte(`{"name":"b"}`))
	if err != nil || status != http.StatusUnauthorized || !strings.Contains(string(body), "body_md5") {
		t.Fatalf("tampered body: %d %s %v", status, body, err)
	}

	if _, _, err := (&API{BaseURL: "://bad", App: testApp}).Do(ctx, http.MethodGet, "/x", nil, nil); err == nil {
		t.Fatal("bad base URL accepted")
	}
}
