package transport_test

import (
	"errors"

	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

// TestHostileClients runs hostile clients in parallel against one server while a well-behaved
// client takes a stream of events: each hostile client gets its Pusher error, the server stays
// up, and the well-behaved client receives every event, in order, and nothing else.
//
// The single cases of bad input that other tests cover one by one (bad JSON, binary frames,
// frames over max_message_size, unknown events, wrong signatures, stale timestamps, wrong
// body_md5, another app's credentials: TestBadFramesKeepConnectionOpen, TestAPIAuth,
// TestSubscribeAuthFailures) are here only as background noise; the rows added are what
// nothing else tried.
func TestHostileClients(t *testing.T) {
	app := newApp("1")
	roomy := newApp("2", func(a *configs.App) { a.Limits.MaxMessageSize = 1 << 20 }) // lets deep JSON reach the decoder
	flooded := newApp("3")
	full := newApp("4", func(a *configs.App) { a.Limits.MaxPresenceMembers = 1 })
	hoarder := newApp("5", func(a *configs.App) { a.Limits.MaxChannelsPerConnection = 30 })
	app.Limits.MaxSubscribesPerSecond = 20
	flooded.Limits.MaxConnectionsPerSecond = 5
	ws, httpBase, _, _ := startServerWith(t, testOpts{}, app, roomy, flooded, full, hoarder)
	api := apiFor(httpBase, app)

	// The well-behaved client: a public and a private channel, read all along.
	good := dial(t, ws, app)
	subscribePublic(t, good, "news")
	subscribePrivate(t, good, app, "private-good")
	var received []string
	readDone := make(chan error, 1)
	go func() {
		for {
			m, err := good.Next(testCtx(t))
			if err != nil {
				readDone <- err
				return
			}
			if m.Event == "end" {
				readDone <- nil
				return
			}
			received = append(received, m.Event+"@"+m.Channel)
		}
	}()

	// Events for it, while the hostile clients run (bounded: at most 2,000, 2 ms apart).
	stopPublishing := make(chan struct{})
	var published []string
	var pubErr error
	var pubWG sync.WaitGroup
	pubWG.Add(1)
	go func() {
		defer pubWG.Done()
		for i := 0; i < 2000; i++ {
			select {
			case <-stopPublishing:
				return
			case <-time.After(2 * time.Millisecond):
			}
			ch := []string{"news", "private-good"}[i%2]
			name := "seq-" + strconv.Itoa(i)
			if _, err := api.Trigger(testCtx(t), []string{ch}, name, `{"i":`+strconv.Itoa(i)+`}`, pusherclient.TriggerOptions{}); err != nil {
				pubErr = err
				return
			}
			published = append(published, name+"@"+ch)
		}
	}()

	t.Run("hostile", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			run  func(t *testing.T)
		}{
			{"noise: malformed frames", func(t *testing.T) {
				r := dialRaw(t, ws, appPath(app), 0)
				r.expectEvent(t, protocol.EventConnectionEstablished)
				for _, f := range []string{`not json`, `{"event":"pusher:nope"}`, `{"event":"pusher:subscribe","data":[]}`} {
					if err := r.writeText([]byte(f)); err != nil {
						t.Fatal(err)
					}
					r.expectEvent(t, protocol.EventError)
				}
				if err := r.writeFrame(0x2, []byte{0, 1, 2}); err != nil {
					t.Fatal(err)
				}
				r.expectEvent(t, protocol.EventError)
			}},
			{"100,000 [ over max_message_size", func(t *testing.T) {
				c := dial(t, ws, app)
				_ = c.SendRaw([]byte(strings.Repeat("[", 100_000)))
				// Refused before it is buffered: 1009, or a reset while the client still sends.
				if code := closeCode(t, c); code != 1009 && code != 1006 {
					t.Fatalf("closed with %d, want 1009 (message too big) or 1006 (reset while sending)", code)
				}
			}},
			{"100,000 [ as a frame's data, within max_message_size", func(t *testing.T) {
				c := dial(t, ws, roomy)
				sendRaw(t, c, `{"event":"client-x","channel":"private-x","data":`+strings.Repeat("[", 100_000))
				expectPusherError(t, c)
				sendRaw(t, c, `{"event":"pusher:subscribe","data":{"channel":"a","x":`+strings.Repeat("[", 50_000)+strings.Repeat("]", 50_000)+`}}`)
				expectPusherError(t, c)
				pingPong(t, c)
			}},
			{"frame over the WebSocket payload cap", func(t *testing.T) {
				c := dial(t, ws, roomy)
				_ = c.SendRaw([]byte(`{"event":"pusher:ping","data":"` + strings.Repeat("x", 2<<20) + `"}`))
				// The server answers 1009 and closes while the client may still be sending the
				// rest of its 2 MiB: the client then sees a reset (1006) before that close
				// frame. Either way the connection must end; the server's health is checked
				// by the well-behaved client below.
				if code := closeCode(t, c); code != 1009 && code != 1006 {
					t.Fatalf("closed with %d, want 1009 (message too big) or 1006 (reset while sending)", code)
				}
			}},
			{"huge channel_data with a forged auth", func(t *testing.T) {
				c := dial(t, ws, app)
				cd := `{"user_id":"x","user_info":"` + strings.Repeat("y", 30_000) + `"}`
				se := subscriptionError(t, c, "presence-room", app.Key+":"+strings.Repeat("0", 64), cd)
				if se.Type != protocol.SubscriptionErrorAuth || se.Status != http.StatusUnauthorized {
					t.Fatalf("got %+v, want AuthError 401", se)
				}
				pingPong(t, c)
			}},
			{"signed channel_data nested 20,000 deep", func(t *testing.T) {
				c := dial(t, ws, roomy)
				cd := `{"user_id":"x","user_info":` + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000) + `}`
				se := subscriptionError(t, c, "presence-room", creds(roomy).ChannelAuth(c.SocketID(), "presence-room", cd), cd)
				if se.Type != protocol.SubscriptionErrorInvalid || se.Status != http.StatusBadRequest {
					t.Fatalf("got %+v, want InvalidChannel 400", se)
				}
				pingPong(t, c)
			}},
			{"subscribe flood", func(t *testing.T) {
				c := dial(t, ws, app)
				const n = 500
				for i := range n {
					sendRaw(t, c, fmt.Sprintf(`{"event":"pusher:subscribe","data":{"channel":"flood-%d"}}`, i))
				}
				limited := 0
				for range n {
					m := next(t, c)
					if m.Event == protocol.EventSubscriptionError {
						var se pusherclient.SubscriptionError
						if err := m.Decode(&se); err != nil || se.Type != protocol.SubscriptionErrorLimitReached || se.Status != http.StatusTooManyRequests {
							t.Fatalf("got %s, want LimitReached 429", m.Raw)
						}
						limited++
					} else if m.Event != protocol.EventSubscriptionSucceeded {
						t.Fatalf("got %s", m.Raw)
					}
				}
				if limited < n/2 {
					t.Fatalf("%d of %d subscribes limited at 20/s", limited, n)
				}
				pingPong(t, c)
			}},
			{"connection flood on another app", func(t *testing.T) {
				if refused := dialFlood(t, ws, flooded, 100); refused == 0 {
					t.Fatal("100 quick connections at 5 per second: none refused with 4100")
				}
			}},
			{"noise: bad HTTP API credentials", func(t *testing.T) {
				body := mustJSON(t, map[string]any{"name": "evil", "channel": "news", "data": "{}"})
				path := api.AppPath("/events")
				wrongMD5 := url.Values{}
				creds(app).SignRequest(http.MethodPost, path, wrongMD5, []byte(`{}`), time.Now())
				status, resp := apiDo(t, api, http.MethodPost, path, wrongMD5, body)
				assertAPIError(t, status, resp, http.StatusUnauthorized)
				wrongSecret := &pusherclient.API{BaseURL: httpBase, App: pusherclient.App{ID: app.ID, Key: app.Key, Secret: "guess"}}
				status, resp = apiDo(t, wrongSecret, http.MethodPost, path, nil, body)
				assertAPIError(t, status, resp, http.StatusUnauthorized)
				otherApp := &pusherclient.API{BaseURL: httpBase, App: pusherclient.App{ID: app.ID, Key: roomy.Key, Secret: roomy.Secret}}
				status, resp = apiDo(t, otherApp, http.MethodPost, path, nil, body)
				assertAPIError(t, status, resp, http.StatusUnauthorized)
			}},
			{"invalid UTF-8 in a client event", func(t *testing.T) {
				r := dialRaw(t, ws, appPath(app), 0)
				r.expectEvent(t, protocol.EventConnectionEstablished)
				_ = r.writeText([]byte("{\"event\":\"client-x\",\"channel\":\"private-good\",\"data\":\"\xc3\x28\"}"))
				if m, err := r.next(waitTimeout); err != nil || !m.close || m.code != 1007 {
					t.Fatalf("got %+v, %v; want close 1007", m, err)
				}
			}},
			{"client events right after a refused presence subscribe", func(t *testing.T) {
				const ch = "presence-crowded"
				subscribePresence(t, dial(t, ws, full), full, ch, "member", nil)
				for i := range 10 {
					c := dial(t, ws, full)
					auth, data, err := creds(full).PresenceAuth(c.SocketID(), ch, "intruder", nil)
					if err != nil {
						t.Fatal(err)
					}
					sendRaw(t, c, `{"event":"pusher:subscribe","data":{"channel":"`+ch+`","auth":"`+auth+`","channel_data":`+strconv.Quote(data)+`}}`)
					sendRaw(t, c, `{"event":"client-sneak","channel":"`+ch+`","data":{"i":`+strconv.Itoa(i)+`}}`)
					expectEvent(t, c, protocol.EventSubscriptionError, ch)
				}
			}},
			{"signed request replayed with a parameter in another case or twice", func(t *testing.T) {
				path := api.AppPath("/channels")
				q := url.Values{"filter_by_prefix": {"presence-"}}
				creds(app).SignRequest(http.MethodGet, path, q, nil, time.Now())
				for _, variant := range []url.Values{
					{"FILTER_BY_PREFIX": q["filter_by_prefix"], "auth_key": q["auth_key"], "auth_timestamp": q["auth_timestamp"], "auth_version": q["auth_version"], "auth_signature": q["auth_signature"]},
					{"filter_by_prefix": {"presence-", ""}, "auth_key": q["auth_key"], "auth_timestamp": q["auth_timestamp"], "auth_version": q["auth_version"], "auth_signature": q["auth_signature"]},
				} {
					status, resp := apiDo(t, api, http.MethodGet, path, variant, nil)
					assertAPIError(t, status, resp, http.StatusUnauthorized)
				}
			}},
			{"more channels than a connection may hold", func(t *testing.T) {
				c := dial(t, ws, hoarder)
				refused := 0
				for i := range 40 {
					name := "hoard-" + strconv.Itoa(i)
					if _, err := c.Subscribe(testCtx(t), name, "", ""); err != nil {
						var se *pusherclient.SubscriptionError
						if !errors.As(err, &se) || se.Type != protocol.SubscriptionErrorLimitReached || se.Status != http.StatusForbidden {
							t.Fatalf("subscribe %s: %v", name, err)
						}
						refused++
					}
				}
				if refused != 10 {
					t.Fatalf("%d of 40 channels refused with a limit of 30 per connection, want 10", refused)
				}
				pingPong(t, c)
			}},
			{"noise: another app's channel auth", func(t *testing.T) {
				c := dial(t, ws, app)
				se := subscriptionError(t, c, "private-good", creds(roomy).ChannelAuth(c.SocketID(), "private-good", ""), "")
				if se.Type != protocol.SubscriptionErrorAuth {
					t.Fatalf("got %+v, want AuthError", se)
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t)
			})
		}
	})

	close(stopPublishing)
	pubWG.Wait()
	if pubErr != nil {
		t.Fatalf("publishing to the well-behaved client: %v", pubErr)
	}
	// The server is still up: a new client connects, and the stream ends where it was stopped.
	pingPong(t, dial(t, ws, app))
	if _, err := api.Trigger(testCtx(t), []string{"news"}, "end", "{}", pusherclient.TriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-readDone; err != nil {
		t.Fatalf("well-behaved client: %v", err)
	}
	if len(received) != len(published) {
		t.Fatalf("well-behaved client got %d messages, %d were published", len(received), len(published))
	}
	// Per channel in publish order; the two channels' streams may interleave either way.
	for _, ch := range []string{"news", "private-good"} {
		var want, got []string
		for _, e := range published {
			if strings.HasSuffix(e, "@"+ch) {
				want = append(want, e)
			}
		}
		for _, e := range received {
			if strings.HasSuffix(e, "@"+ch) {
				got = append(got, e)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: received %v, want %v", ch, got, want)
		}
	}
	t.Logf("well-behaved client received all %d events in order", len(received))
}

func sendRaw(t *testing.T, c *pusherclient.Client, frame string) {
	t.Helper()
	if err := c.SendRaw([]byte(frame)); err != nil {
		t.Fatal(err)
	}
}
