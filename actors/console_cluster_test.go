//go:build !race

package actors

// Without the race detector, as cluster_test.go (whose helpers this uses): `go tool task test`
// runs these in its cluster step (-run '^TestCluster').

import (
	"testing"
	"time"

	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
)

// TestClusterConsoleShowsEveryMember: a console open on one member shows what happens on every
// member (a socket on one, the channel's grain on another), members that join later included,
// and when it closes every member stops recording.
func TestClusterConsoleShowsEveryMember(t *testing.T) {
	tc := newTestCluster(t, 3)
	watcher, grainNode, socketNode := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	ch := tc.channelOn(1, "console-")
	v := watcher.e.Watch(watcher.app)
	for _, cn := range tc.nodes {
		eventually(t, "every member to record the app", func() bool { return cn.e.Tap().Watched("app") })
	}
	var seen []node.Event
	var from []string
	until := func(what string, match func(node.Event) bool) (node.Event, string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			for i, e := range seen {
				if match(e) {
					return e, from[i]
				}
			}
			select {
			case b := <-v.Batches():
				for _, e := range b.Events {
					seen, from = append(seen, e), append(from, b.Node)
				}
			case <-timeout:
				t.Fatalf("no %s in the console; it showed %+v", what, seen)
			}
		}
	}

	c, sink := socketNode.connect(t)
	c.Subscribe(ch, "", "")
	sink.Expect(t, protocol.EventSubscriptionSucceeded)
	socketNode.publish(t, ch, "hello", "world")
	if _, at := until("subscribed", func(e node.Event) bool { return e.Kind == node.EventSubscribed && e.SocketID == c.SocketID() }); at != socketNode.e.n.Name {
		t.Errorf("subscribed shown as from %s, want the socket's member %s", at, socketNode.e.n.Name)
	}
	if _, at := until("occupied", func(e node.Event) bool { return e.Kind == node.EventOccupied && e.Channel == ch }); at != grainNode.e.n.Name {
		t.Errorf("occupied shown as from %s, want the grain's member %s", at, grainNode.e.n.Name)
	}
	if msg, _ := until("the API message", func(e node.Event) bool { return e.Kind == node.EventAPIMessage && e.Channel == ch }); msg.Data != "world" || msg.Count != 1 {
		t.Errorf("api message %+v", msg)
	}

	late := tc.add()
	tc.waitMembers(4)
	eventually(t, "the member that joined to record the app", func() bool { return late.e.Tap().Watched("app") })
	lc, lsink := late.connect(t)
	lc.Subscribe(ch, "", "")
	lsink.Expect(t, protocol.EventSubscriptionSucceeded)
	if _, at := until("the late member's subscribe", func(e node.Event) bool { return e.Kind == node.EventSubscribed && e.SocketID == lc.SocketID() }); at != late.e.n.Name {
		t.Errorf("shown as from %s, want %s", at, late.e.n.Name)
	}

	v.Close()
	for _, cn := range tc.nodes {
		eventually(t, "every member to stop recording", func() bool { return !cn.e.Tap().Watched("app") })
	}
}
