package webhooks

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

func TestBatchIsSignedAndKeepsEmitOrder(t *testing.T) {
	r := newReceiver(t, nil, nil)
	h := start(t, testConfig(nil), Deps{})
	app := hookApp(configs.Webhook{URL: r.url()})
	events := []*protocol.WebhookEvent{
		{Name: protocol.WebhookMemberAdded, Channel: "presence-room", UserID: "7"},
		{Name: protocol.WebhookClientEvent, Channel: "private-chat", Event: "client-typing", SocketID: "1.2"},
		{Name: protocol.WebhookSubscriptionCount, Channel: "news", SubscriptionCount: int64Ptr(0)},
	}
	for _, ev := range events {
		h.d.Emit(app, ev)
	}
	h.checkStats(hookAppID, Stats{Queued: 3})
	if window, _ := h.timersArmed(hookAppID, r.url()); !window {
		t.Fatal("Emit did not open the batch window")
	}
	h.clock.Advance(h.d.cfg.BatchWindow - time.Millisecond)
	h.checkStats(hookAppID, Stats{Queued: 3}) // the window is still open
	h.clock.Advance(time.Millisecond)

	p := r.next()
	wantRaw := `{"time_ms":` + strconv.FormatInt(epoch.Add(h.d.cfg.BatchWindow).UnixMilli(), 10) + `,"events":[` +
		`{"name":"member_added","channel":"presence-room","user_id":"7"},` +
		`{"name":"client_event","channel":"private-chat","event":"client-typing","data":"","socket_id":"1.2"},` +
		`{"name":"subscription_count","channel":"news","subscription_count":0}]}`
	if p.raw != wantRaw {
		t.Fatalf("body\n%s\nwant\n%s", p.raw, wantRaw)
	}
	h.waitStats(hookAppID, func(s Stats) bool { return s.Posts == 1 })
	r.none()
	h.checkStats(hookAppID, Stats{Sent: 3, Posts: 1})
}

// TestEventsAsReceived: each event type's JSON as a receiver gets it.
func TestEventsAsReceived(t *testing.T) {
	cases := []struct {
		ev   protocol.WebhookEvent
		want string
	}{
		{protocol.WebhookEvent{Name: protocol.WebhookChannelOccupied, Channel: "x"}, `{"name":"channel_occupied","channel":"x"}`},
		{protocol.WebhookEvent{Name: protocol.WebhookChannelVacated, Channel: "x"}, `{"name":"channel_vacated","channel":"x"}`},
		{protocol.WebhookEvent{Name: protocol.WebhookCacheMiss, Channel: "cache-x"}, `{"name":"cache_miss","channel":"cache-x"}`},
		{protocol.WebhookEvent{Name: protocol.WebhookMemberRemoved, Channel: "presence-x", UserID: "1"}, `{"name":"member_removed","channel":"presence-x","user_id":"1"}`},
		{
			protocol.WebhookEvent{Name: protocol.WebhookClientEvent, Channel: "presence-x", Event: "client-e", Data: "{\"a\":\"\u00e9\n\"}", SocketID: "1.2", UserID: "u"},
			`{"name":"client_event","channel":"presence-x","event":"client-e","data":"{\"a\":\"é\n\"}","socket_id":"1.2","user_id":"u"}`,
		},
		{protocol.WebhookEvent{Name: protocol.WebhookSubscriptionCount, Channel: "x", SubscriptionCount: int64Ptr(12)}, `{"name":"subscription_count","channel":"x","subscription_count":12}`},
	}
	r := newReceiver(t, nil, nil)
	h := start(t, testConfig(nil), Deps{})
	app := hookApp(configs.Webhook{URL: r.url()})
	for i := range cases {
		h.d.Emit(app, &cases[i].ev)
	}
	h.clock.Advance(h.d.cfg.BatchWindow)
	p := r.next()
	if len(p.body.Events) != len(cases) {
		t.Fatalf("%d events in %s", len(p.body.Events), p.raw)
	}
	for i, c := range cases {
		var want map[string]any
		if err := json.Unmarshal([]byte(c.want), &want); err != nil {
			t.Fatal(err)
		}
		if got := p.event(i); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %s, want %s", c.ev.Name, p.body.Events[i], c.want)
		}
	}
}

func TestFiltersByEventTypes(t *testing.T) {
	channels := newReceiver(t, nil, nil)
	members := newReceiver(t, nil, nil)
	h := start(t, testConfig(func(c *configs.WebhookDelivery) { c.BatchWindow = time.Hour }), Deps{})
	app := hookApp(
		configs.Webhook{URL: channels.url(), EventTypes: []string{protocol.WebhookChannelOccupied, protocol.WebhookChannelVacated}},
		configs.Webhook{URL: members.url(), EventTypes: []string{protocol.WebhookMemberAdded}},
		// The same URL again, for a type it has: still one target, each event once.
		configs.Webhook{URL: members.url(), EventTypes: []string{protocol.WebhookMemberAdded, protocol.WebhookChannelOccupied}},
	)
	for _, ev := range []*protocol.WebhookEvent{
		occupied("presence-a"),
		{Name: protocol.WebhookMemberAdded, Channel: "presence-a", UserID: "1"},
		{Name: protocol.WebhookClientEvent, Channel: "presence-a", Event: "client-x"}, // nobody's
		{Name: protocol.WebhookChannelVacated, Channel: "presence-a"},
	} {
		h.d.Emit(app, ev)
	}
	noTargets := hookApp()
	noTargets.ID = "quiet-app"
	h.d.Emit(noTargets, occupied("a"))
	h.flush() // only the flush sends: the window is an hour

	if got, want := channels.next().field("name"), []string{"channel_occupied", "channel_vacated"}; !reflect.DeepEqual(got, want) {
		t.Errorf("channel target got %v, want %v", got, want)
	}
	if got, want := members.next().field("name"), []string{"channel_occupied", "member_added"}; !reflect.DeepEqual(got, want) {
		t.Errorf("member target got %v, want %v", got, want)
	}
	channels.none()
	members.none()
	h.checkStats(hookAppID, Stats{Sent: 4, Posts: 2})
	h.checkStats("quiet-app", Stats{})
	h.checkStats("unknown-app", Stats{})
}

// TestPostUsesSettingsAsOfThePost: an app's key and secret replaced while its events wait are
// the ones their POST carries.
func TestPostUsesSettingsAsOfThePost(t *testing.T) {
	r := newReceiver(t, nil, nil)
	r.key, r.secret = "new-key", "new-secret"
	h := start(t, testConfig(nil), Deps{})
	old := hookApp(configs.Webhook{URL: r.url()})
	h.d.Emit(old, occupied("a"))
	replaced := *old
	replaced.Key, replaced.Secret = "new-key", "new-secret"
	h.d.Emit(&replaced, occupied("b"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	if got := r.next().field("channel"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("channels %v", got)
	}
}

func TestPostCarriesTraceparent(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{Traces: telemetry.TracesConfig{SampleRatio: 1}}, nil, telemetry.WithSpanProcessor(spans))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	r := newReceiver(t, nil, nil)
	h := start(t, testConfig(nil), Deps{Telemetry: tel})
	h.d.Emit(hookApp(configs.Webhook{URL: r.url()}), occupied("a"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	p := r.next()
	h.waitStats(hookAppID, func(s Stats) bool { return s.Posts == 1 })
	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended, want 1", len(ended))
	}
	if id := ended[0].SpanContext().SpanID().String(); !strings.Contains(p.traceparent, id) {
		t.Fatalf("traceparent %q, want span %s", p.traceparent, id)
	}
}

// TestEmitAllocatesOnlyTheQueue: Emit costs a queue append, amortised, and nothing for an
// event nobody wants.
func TestEmitAllocatesOnlyTheQueue(t *testing.T) {
	r := newReceiver(t, nil, nil)
	// Nothing is posted meanwhile: the allocations counted are those of every goroutine.
	h := start(t, testConfig(func(c *configs.WebhookDelivery) {
		c.BatchWindow, c.BatchMaxEvents, c.QueueLimit = time.Hour, 1<<20, 1<<20
	}), Deps{})
	app := hookApp(configs.Webhook{URL: r.url(), EventTypes: []string{protocol.WebhookChannelOccupied}})
	ev, unwanted := occupied("a"), &protocol.WebhookEvent{Name: protocol.WebhookMemberAdded, Channel: "presence-a"}
	h.d.Emit(app, ev) // makes the target
	if n := testing.AllocsPerRun(1000, func() { h.d.Emit(app, unwanted) }); n != 0 {
		t.Errorf("Emit of an unwanted event: %v allocations", n)
	}
	if n := testing.AllocsPerRun(1000, func() { h.d.Emit(app, ev) }); n != 0 {
		t.Errorf("Emit: %v allocations per event beyond the queue's growth", n)
	}
}

func BenchmarkEmit(b *testing.B) {
	h := start(b, testConfig(func(c *configs.WebhookDelivery) {
		c.BatchWindow, c.BatchMaxEvents, c.QueueLimit = time.Hour, 1<<30, 1<<30
	}), Deps{})
	app := hookApp(configs.Webhook{URL: "http://127.0.0.1:1/hook", EventTypes: []string{protocol.WebhookChannelOccupied}})
	ev := occupied("a")
	b.Run("wanted", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.d.Emit(app, ev)
			}
		})
	})
	unwanted := &protocol.WebhookEvent{Name: protocol.WebhookClientEvent, Channel: "private-a"}
	b.Run("unwanted", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.d.Emit(app, unwanted)
			}
		})
	})
}
