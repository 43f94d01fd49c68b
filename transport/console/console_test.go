package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/transport"
	"github.com/herald-io/herald/transport/console"
)

const token = "test-console-token-0123"

// node is a herald node (engine and server on 127.0.0.1) with its console on a test server.
type node struct {
	ws      string
	console *httptest.Server
	c       *console.Console
}

func start(t *testing.T) *node {
	t.Helper()
	cfg := configs.Default()
	cfg.Apps = []configs.App{configs.DefaultApp("app", "key", "the-app-secret")}
	engine, err := actors.New(cfg, actors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	server, err := transport.New(engine, cfg, transport.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve(l) }()
	c, err := console.New(token, console.Deps{Engine: engine, Publisher: server, Logger: slog.New(slog.DiscardHandler), Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(c)
	t.Cleanup(func() {
		c.Close()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
		engine.Shutdown()
	})
	return &node{ws: "ws://" + l.Addr().String(), console: ts, c: c}
}

func (n *node) do(t *testing.T, method, path, bearer, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.console.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestEveryURLWantsTheToken: without the token, or with a wrong one, every console URL answers
// 401 and shows nothing of the apps; the page answers with its login form.
func TestEveryURLWantsTheToken(t *testing.T) {
	n := start(t)
	for _, bearer := range []string{"", "wrong-token-0123456789", token + "x"} {
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/console/", ""}, {"GET", "/console/api/apps", ""}, {"GET", "/console/api/apps/app/stream", ""},
			{"GET", "/console/api/apps/app/channels", ""}, {"POST", "/console/api/apps/app/events", `{"channel":"a","event":"e","data":{}}`},
			{"GET", "/console/anything", ""},
		} {
			res, body := n.do(t, c.method, c.path, bearer, c.body)
			if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with %q: %d, want 401 with WWW-Authenticate", c.method, c.path, bearer, res.StatusCode)
			}
			if strings.Contains(body, `"apps"`) || strings.Contains(body, "the-app-secret") || strings.Contains(body, `"kind":`) {
				t.Errorf("%s %s without the token shows %s", c.method, c.path, body)
			}
			if c.path == "/console/" && !strings.Contains(body, `type="password"`) {
				t.Errorf("the page without the token is not the login form: %s", body)
			}
		}
	}
}

func TestAppsNeverShowASecret(t *testing.T) {
	n := start(t)
	res, body := n.do(t, "GET", "/console/api/apps", token, "")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"id":"app"`) || strings.Contains(body, "the-app-secret") {
		t.Fatalf("apps: %d %s", res.StatusCode, body)
	}
	res, body = n.do(t, "GET", "/console/", token, "")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Fatalf("page: %d %v", res.StatusCode, res.Header)
	}
	if strings.Contains(body, "{{") {
		t.Fatal("the page template was not filled in")
	}
}

// sse reads a console stream.
type sse struct {
	t    *testing.T
	r    *bufio.Reader
	seen []map[string]any
}

func (n *node) stream(t *testing.T) *sse {
	t.Helper()
	// The stream ends by itself, so that a test waiting for an event that never comes fails.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", n.console.URL+"/console/api/apps/app/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v", res.StatusCode, res.Header)
	}
	s := &sse{t: t, r: bufio.NewReader(res.Body)}
	if name, _ := s.next(); name != "hello" {
		t.Fatalf("first message %q, want hello", name)
	}
	return s
}

func (s *sse) next() (event, data string) {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("stream: %v; the console showed %v", err, s.seen)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && event != "":
			return event, data
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data += line[len("data: "):]
		}
	}
}

// until reads batches until an event matches.
func (s *sse) until(what string, match func(map[string]any) bool) map[string]any {
	s.t.Helper()
	for {
		for _, e := range s.seen {
			if match(e) {
				return e
			}
		}
		_, data := s.next()
		var b struct {
			Node   string           `json:"node"`
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal([]byte(data), &b); err != nil {
			s.t.Fatalf("batch %s: %v", data, err)
		}
		for _, e := range b.Events {
			e["node"] = b.Node
			s.seen = append(s.seen, e)
		}
	}
}

func is(kind string, fields map[string]any) func(map[string]any) bool {
	return func(e map[string]any) bool {
		if e["kind"] != kind {
			return false
		}
		for k, v := range fields {
			if e[k] != v {
				return false
			}
		}
		return true
	}
}

// TestStreamShowsAClientAndTheEventCreatorsEvent: the live log shows a socket connect and
// subscribe, and an event sent with the event creator, which the socket receives.
func TestStreamShowsAClientAndTheEventCreatorsEvent(t *testing.T) {
	n := start(t)
	log := n.stream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := pusherclient.DialOptions(ctx, n.ws+"/app/key?protocol=7", pusherclient.Options{Header: http.Header{"Origin": {"http://example.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Subscribe(ctx, "news", "", ""); err != nil {
		t.Fatal(err)
	}
	sock := client.SocketID()
	log.until("connection opened", is("connection_opened", map[string]any{"socket_id": sock, "origin": "http://example.test"}))
	log.until("subscribed", is("subscribed", map[string]any{"socket_id": sock, "channel": "news"}))
	log.until("occupied", is("occupied", map[string]any{"channel": "news"}))

	res, body := n.do(t, "POST", "/console/api/apps/app/events", token, `{"channel":"news","event":"from-console","data":{"n":1}}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("event creator: %d %s", res.StatusCode, body)
	}
	got, err := client.Expect(ctx, func(m pusherclient.Message) bool { return m.Event == "from-console" })
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := got.DataString(); s != `{"n":1}` {
		t.Errorf("the client got data %q", s)
	}
	log.until("the API message", is("api_message", map[string]any{"channel": "news", "event": "from-console", "data": `{"n":1}`, "count": float64(1)}))

	res, body = n.do(t, "POST", "/console/api/apps/app/events", token, `{"channel":"bad channel!","event":"e","data":{}}`)
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("an invalid channel: %d %s, want 400 as the HTTP API answers", res.StatusCode, body)
	}

	_ = client.Close()
	log.until("connection closed", is("connection_closed", map[string]any{"socket_id": sock}))
	log.until("vacated", is("vacated", map[string]any{"channel": "news"}))

	res, body = n.do(t, "GET", "/console/api/apps/app/channels", token, "")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"channels":[]`) {
		t.Errorf("channels after the socket left: %d %s", res.StatusCode, body)
	}
}

// TestChannelsShowCountsAndRosters: the channels view lists occupied channels with their
// subscriber counts and presence members.
func TestChannelsShowCountsAndRosters(t *testing.T) {
	n := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, user := range []string{"alice", "bob"} {
		c, err := pusherclient.Dial(ctx, n.ws+"/app/key?protocol=7")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		data := `{"user_id":"` + user + `"}`
		if _, err := c.Subscribe(ctx, "presence-room", protocol.ChannelAuth("key", "the-app-secret", c.SocketID(), "presence-room", data), data); err != nil {
			t.Fatal(err)
		}
	}
	res, body := n.do(t, "GET", "/console/api/apps/app/channels", token, "")
	want := `{"channels":[{"name":"presence-room","subscription_count":2,"user_count":2,"users":["alice","bob"]}],"total":1}`
	if res.StatusCode != http.StatusOK || strings.TrimSpace(body) != want {
		t.Fatalf("channels: %d %s\nwant %s", res.StatusCode, body, want)
	}
}

// TestCloseEndsStreams: Close ends open streams, so the metrics server can shut down.
func TestCloseEndsStreams(t *testing.T) {
	n := start(t)
	log := n.stream(t)
	n.c.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, log.r)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after Close")
	}
}
