package transport_test

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

func TestEventsArriveInOrder(t *testing.T) {
	app := newApp("1")
	ws, httpBase, _, _ := startServer(t, app)
	api := apiFor(httpBase, app)
	const n = 200
	subs := []*pusherclient.Client{dial(t, ws, app), dial(t, ws, app), dial(t, ws, app)}
	for _, c := range subs {
		subscribePublic(t, c, "ordered")
	}
	for i := range n {
		if _, err := api.Trigger(testCtx(t), []string{"ordered"}, "seq", strconv.Itoa(i), pusherclient.TriggerOptions{}); err != nil {
			t.Fatalf("trigger %d: %v", i, err)
		}
	}
	for s, c := range subs {
		for i := range n {
			m := expectNext(t, c, "seq", "ordered")
			if got, _ := m.DataString(); got != strconv.Itoa(i) {
				t.Fatalf("subscriber %d: event %d has data %q", s, i, got)
			}
		}
	}
}

// TestSlowConsumerIsDisconnected: a subscriber that stops reading is closed once its write
// queue is over the limit, and does not hold up the others.
func TestSlowConsumerIsDisconnected(t *testing.T) {
	const queueLimit = 64 << 10
	app := newApp("1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws, httpBase, _, eng := startServerOn(t, smallSendBuffers{l, 32 << 10}, testOpts{config: func(c *configs.Config) { c.WriteQueueBytes = queueLimit }}, app)
	api := apiFor(httpBase, app)
	const ch = "firehose"

	fast := dial(t, ws, app)
	subscribePublic(t, fast, ch)

	// The slow client subscribes, then never reads again; its small receive buffer makes the
	// server's writes stall after a few frames.
	slow := dialRaw(t, ws, appPath(app), 4096)
	slow.expectEvent(t, protocol.EventConnectionEstablished)
	if err := slow.writeText([]byte(`{"event":"pusher:subscribe","data":{"channel":"` + ch + `"}}`)); err != nil {
		t.Fatal(err)
	}
	slow.expectEvent(t, protocol.EventSubscriptionSucceeded)
	waitConnections(t, eng, app, 2)
	run := running(t, eng, app)

	// Events go out in batches of 4 x 8 KB, each only once the fast subscriber has read the one
	// before: it is never more than 32 KB behind, half the queue limit, so only the slow
	// subscriber can overflow.
	payload := strings.Repeat("x", 8000)
	const batch = 4
	const budget = 4000 // 32 MB: far beyond any socket buffers on loopback
	sent, received := 0, 0
	receive := func() {
		t.Helper()
		m := expectNext(t, fast, "big", ch)
		s, _ := m.DataString()
		if seq, _, _ := strings.Cut(s, ":"); seq != strconv.Itoa(received) {
			t.Fatalf("fast subscriber: event %d has sequence %q", received, seq)
		}
		received++
	}
	start := time.Now()
	for sent < budget && run.Connections() == 2 {
		for received < sent {
			receive()
		}
		events := make([]pusherclient.BatchEvent, batch)
		for i := range events {
			events[i] = pusherclient.BatchEvent{Channel: ch, Name: "big", Data: strconv.Itoa(sent+i) + ":" + payload}
		}
		if _, err := api.TriggerBatch(testCtx(t), events); err != nil {
			t.Fatalf("trigger events %d-%d: %v", sent, sent+batch-1, err)
		}
		sent += batch
	}
	if run.Connections() == 2 {
		t.Fatalf("the slow consumer was still connected after %d events of %d bytes (%.0f MB, %v)",
			sent, len(payload), float64(sent*len(payload))/1e6, time.Since(start))
	}
	t.Logf("slow consumer dropped after %d events of %d bytes, %v", sent, len(payload), time.Since(start))
	for received < sent {
		receive()
	}
	pingPong(t, fast)

	// The slow socket's TCP connection ends (what was already in flight may precede the end).
	_ = slow.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	n, err := io.Copy(io.Discard, slow.br)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("slow consumer's connection still open after reading %d bytes", n)
	}
}
