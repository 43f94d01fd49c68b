package pusherclient

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"
)

func TestOnRawConsumesWhatItClaims(t *testing.T) {
	fs := newFakeServer(t)
	var claimed atomic.Int64
	c := dial(t, fs, Options{OnRaw: func(raw []byte, received time.Time) bool {
		if received.IsZero() {
			t.Error("no receive time")
		}
		if bytes.Contains(raw, []byte(`"event":"burst"`)) {
			claimed.Add(1)
			return true
		}
		return false
	}})
	ctx := testContext(t)
	if _, err := c.Subscribe(ctx, "private-a", testApp.ChannelAuth(c.SocketID(), "private-a", ""), ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(map[string]any{"event": "test:burst", "data": map[string]int{"n": 20}}); err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Event == EventSubscriptionSucceeded {
		m, err = c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	if m.Event != "burst-done" {
		t.Fatalf("next message %s, want burst-done (the bursts are claimed)", m.Raw)
	}
	if n := claimed.Load(); n != 20 {
		t.Fatalf("OnRaw claimed %d frames, want 20", n)
	}
	// An unclaimed pusher:ping is still answered.
	if err := c.Send(map[string]any{"event": "test:send-ping"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, func(m Message) bool { return m.Event == EventPing }); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(map[string]any{"event": "test:report-pongs"}); err != nil {
		t.Fatal(err)
	}
	m, err = c.Expect(ctx, func(m Message) bool { return m.Event == "pongs" })
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := m.DataString(); s != "1" {
		t.Fatalf("pongs = %s", s)
	}
}
