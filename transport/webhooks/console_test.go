package webhooks

import (
	"net/http"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

// TestConsoleSeesEveryPostAttempt: a watched app's console is told each POST: its types, its
// target without the password, the status and the attempt.
func TestConsoleSeesEveryPostAttempt(t *testing.T) {
	r := newReceiver(t, func(i int) int {
		if i == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}, nil)
	tap := node.NewTap()
	tap.Attach(clockwork.NewFakeClock(), func(string) {})
	tap.SetWatched(hookAppID, true)
	h := start(t, testConfig(nil), Deps{Console: tap})
	target := "http://user:pw@" + r.srv.Listener.Addr().String() + "/pusher/webhook"
	app := hookApp(configs.Webhook{URL: target})
	h.d.Emit(app, occupied("a"))
	h.d.Emit(app, &protocol.WebhookEvent{Name: protocol.WebhookMemberAdded, Channel: "presence-a", UserID: "1"})
	h.d.Emit(app, occupied("b"))
	h.clock.Advance(h.d.cfg.BatchWindow)
	h.waitStats(hookAppID, func(s Stats) bool { return s.Failed == 1 })
	h.clock.Advance(h.d.cfg.InitialBackoff)
	h.waitStats(hookAppID, func(s Stats) bool { return s.Posts == 1 })

	events, _ := tap.Take(hookAppID, 10)
	if len(events) != 2 {
		t.Fatalf("recorded %+v, want two POSTs", events)
	}
	for i, want := range []struct{ status, attempt int }{{500, 1}, {200, 2}} {
		e := events[i]
		if e.Kind != node.EventWebhook || e.Event != "channel_occupied,member_added" || e.Status != want.status ||
			e.Attempt != want.attempt || e.Count != 3 || e.Target != "http://user:xxxxx@"+r.srv.Listener.Addr().String()+"/pusher/webhook" {
			t.Errorf("POST %d recorded as %+v", i, e)
		}
	}
	if events[0].Message == "" {
		t.Error("a failed POST says why")
	}
}
