package transport_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
)

// TestSubscribeRacingLastUnsubscribe: a socket subscribing to a channel while the node's last
// subscriber of it leaves. The node fan-out stops when its last subscriber leaves; a join sent
// to it meanwhile used to be dropped, leaving the subscribe unanswered (found by TestSoak; it
// failed within about 1,000 rounds). Joins are now counted in flight and a fan-out with one in
// flight does not stop (actors/locator.go, localRegistry.request).
func TestSubscribeRacingLastUnsubscribe(t *testing.T) {
	app := newApp("1")
	ws, _, _, _ := startServer(t, app)
	lost := 0
	for i := 0; i < 3000; i++ {
		a, err := pusherclient.Dial(context.Background(), creds(app).WebSocketURL(ws))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := a.Subscribe(ctx, "x", "", ""); err != nil {
			lost++
		}
		cancel()
		a.Unsubscribe("x")
		b, err := pusherclient.Dial(context.Background(), creds(app).WebSocketURL(ws))
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		if _, err := b.Subscribe(ctx, "x", "", ""); err != nil {
			lost++
		}
		cancel()
		b.Close()
		if lost > 0 {
			t.Fatalf("iteration %d: %d subscribes never answered", i, lost)
		}
	}
}
