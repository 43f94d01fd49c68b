package actors_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
)

// consoleLog gathers what a viewer is shown.
type consoleLog struct {
	v      *actors.ConsoleViewer
	events []node.Event
}

// until reads batches until an event matches, and returns it.
func (l *consoleLog) until(t *testing.T, what string, match func(node.Event) bool) node.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		for _, e := range l.events {
			if match(e) {
				return e
			}
		}
		select {
		case b, ok := <-l.v.Batches():
			if !ok {
				t.Fatalf("viewer closed before %s", what)
			}
			l.events = append(l.events, b.Events...)
		case <-timeout:
			t.Fatalf("no %s in the console; it showed %+v", what, l.events)
		}
	}
}

func kind(k, channel string) func(node.Event) bool {
	return func(e node.Event) bool { return e.Kind == k && e.Channel == channel }
}

func TestConsoleShowsAnAppsEvents(t *testing.T) {
	n := newTestNode(t)
	tap := n.tap(t)
	if tap.Watched(n.app.ID) {
		t.Fatal("recording with no console open")
	}
	log := &consoleLog{v: n.e.Watch(n.app)}
	eventually(t, "the tap to record the watched app", func() bool { return tap.Watched(n.app.ID) })

	c, sink := n.connect(t)
	n.presenceSubscribe(c, "presence-room", "alice")
	sink.Expect(t, protocol.EventSubscriptionSucceeded)
	n.publish(t, "presence-room", "greet", `{"hello":"world"}`)
	sink.Expect(t, "greet")
	c.Subscribe("private-x", "bad-auth", "")
	sink.Expect(t, protocol.EventSubscriptionError)

	sub := log.until(t, "subscribed", kind(node.EventSubscribed, "presence-room"))
	if sub.SocketID != c.SocketID() || sub.UserID != "alice" {
		t.Errorf("subscribed %+v", sub)
	}
	log.until(t, "occupied", kind(node.EventOccupied, "presence-room"))
	if m := log.until(t, "member_added", kind(node.EventMemberAdded, "presence-room")); m.UserID != "alice" {
		t.Errorf("member_added %+v", m)
	}
	msg := log.until(t, "the API message", kind(node.EventAPIMessage, "presence-room"))
	if msg.Event != "greet" || msg.Data != `{"hello":"world"}` || msg.Size != len(`{"hello":"world"}`) || msg.Count != 1 {
		t.Errorf("api message %+v", msg)
	}
	if e := log.until(t, "the subscription error", kind(node.EventError, "private-x")); e.Code != 401 || e.SocketID != c.SocketID() {
		t.Errorf("error %+v", e)
	}

	typist, typistSink := n.connect(t)
	n.privateSubscribe(typist, "private-chat")
	typistSink.Expect(t, protocol.EventSubscriptionSucceeded)
	typist.ClientEvent("client-typing", "private-chat", json.RawMessage(`{"x":1}`))
	if e := log.until(t, "the client event", kind(node.EventClientEvent, "private-chat")); e.SocketID != typist.SocketID() || e.Event != "client-typing" || e.Data != `{"x":1}` {
		t.Errorf("client event %+v", e)
	}

	c.Closed()
	log.until(t, "member_removed", kind(node.EventMemberRemoved, "presence-room"))
	log.until(t, "vacated", kind(node.EventVacated, "presence-room"))

	log.v.Close()
	eventually(t, "recording to stop once the console closed", func() bool { return !tap.Watched(n.app.ID) })
	for range log.v.Batches() { // drained and closed
	}
}

// TestConsoleAccountsForEveryEvent: under more events than the console takes, every event is
// either shown or counted as not shown (dropped by the tap or lost by the viewer).
func TestConsoleAccountsForEveryEvent(t *testing.T) {
	n := newTestNode(t)
	tap := n.tap(t)
	v := n.e.Watch(n.app)
	defer v.Close()
	eventually(t, "the tap to record the watched app", func() bool { return tap.Watched(n.app.ID) })
	const events = 20000
	for range events {
		tap.Record(n.app.ID, node.Event{Kind: node.EventAPIMessage})
	}
	var shown, notShown int64
	eventually(t, "every event shown or counted", func() bool {
		for {
			select {
			case b := <-v.Batches():
				shown += int64(len(b.Events))
				notShown += b.Dropped
				continue
			default:
			}
			notShown += v.TakeLost()
			return shown+notShown == events
		}
	})
	if shown == 0 {
		t.Fatal("nothing shown")
	}
}

// tap is the node's debug console tap.
func (n *testNode) tap(t *testing.T) *node.Tap {
	t.Helper()
	return n.e.Tap()
}
