//go:build !race

package actors

// The race detector is off for this file: proto.actor itself races when its remote and cluster
// run (remote/server.go sets grpc's global logger at every start while other members' gRPC code
// reads it; cluster/gossip_state_management.go changes gossip state that the remote is
// serializing). `go tool task test` runs these tests in a step of their own without -race.
//
// In-process cluster tests: engines in one process, members of one proto.actor cluster through
// an in-memory membership (clustertest), their remotes on 127.0.0.1:0. A member's death is
// Engine.Kill: its actor system and remote stop without a word to the others, and the membership
// drops it, as the automanaged or etcd provider does when its health checks fail.

import (
	"log/slog"
	"os"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/cluster/clustertest"
	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/actors/node/nodetest"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

type clusterNode struct {
	e        *Engine
	app      *App
	clock    *nodetest.Clock
	webhooks *nodetest.Webhooks
}

type testCluster struct {
	t       testing.TB
	members *clustertest.Membership
	name    string
	app     configs.App
	nodes   []*clusterNode
}

var clusterSeq atomic.Int64

// newTestCluster starts n engines as one cluster and waits until each sees all of them.
func newTestCluster(t testing.TB, n int, edit ...func(*configs.App)) *testCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("in-process cluster: seconds per test (go test without -short runs it)")
	}
	app := configs.DefaultApp("app", "key", "secret")
	app.Webhooks = []configs.Webhook{{URL: "http://127.0.0.1:1/unused"}}
	for _, f := range edit {
		f(&app)
	}
	tc := &testCluster{t: t, members: clustertest.NewMembership(), name: "herald-test-" + strconv.FormatInt(clusterSeq.Add(1), 10), app: app}
	for range n {
		tc.add()
	}
	tc.waitMembers(n)
	return tc
}

// add starts one more member.
func (tc *testCluster) add() *clusterNode { return tc.addAt("127.0.0.1:0") }

// addAt starts one more member with its remote at address.
func (tc *testCluster) addAt(address string) *clusterNode {
	t := tc.t
	t.Helper()
	cfg := configs.Default()
	cfg.Apps = []configs.App{tc.app}
	cfg.Cluster.Enabled = true
	cfg.Cluster.Name = tc.name
	cfg.Cluster.Address = address
	cfg.Cluster.GossipInterval = 100 * time.Millisecond
	cn := &clusterNode{clock: nodetest.NewClock(), webhooks: &nodetest.Webhooks{}}
	deps := Deps{Clock: cn.clock, Webhooks: cn.webhooks, ClusterProvider: tc.members.Provider()}
	if os.Getenv("HERALD_TEST_LOG") != "" { // the members' logs, proto.actor's included, for debugging
		deps.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", len(tc.nodes))
	}
	e, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Kill)
	cn.e = e
	cn.app, _ = e.AppByID("app")
	tc.nodes = append(tc.nodes, cn)
	return cn
}

// waitMembers waits until every running member sees n members.
func (tc *testCluster) waitMembers(n int) {
	tc.t.Helper()
	eventually(tc.t, fmt.Sprintf("%d members", n), func() bool {
		for _, cn := range tc.nodes {
			if !cn.e.stopped.Load() && cn.e.Members() != n {
				return false
			}
		}
		return true
	})
}

// channelOn finds a channel name with prefix whose grain is on node i.
func (tc *testCluster) channelOn(i int, prefix string) string {
	tc.t.Helper()
	addr := tc.nodes[i].e.system.Address()
	for k := range 1000 {
		ch := prefix + strconv.Itoa(k)
		if tc.nodes[0].e.n.Grains.ChannelPID("app", ch).Address == addr {
			return ch
		}
	}
	tc.t.Fatalf("no channel with prefix %s has its grain on node %d", prefix, i)
	return ""
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (cn *clusterNode) connect(t testing.TB) (*Connection, *nodetest.Sink) {
	t.Helper()
	sink := nodetest.NewSink()
	c, err := cn.e.Connect(cn.app, sink)
	if err != nil {
		t.Fatal(err)
	}
	return c, sink
}

// presence subscribes a new socket of userID to channel.
func (cn *clusterNode) presence(t testing.TB, channel, userID string) *nodetest.Sink {
	t.Helper()
	c, sink := cn.connect(t)
	data := `{"user_id":"` + userID + `"}`
	c.Subscribe(channel, protocol.ChannelAuth("key", "secret", c.SocketID(), channel, data), data)
	sink.Expect(t, protocol.EventSubscriptionSucceeded)
	return sink
}

func (cn *clusterNode) info(t testing.TB, channel string) *ChannelInfo {
	t.Helper()
	info, err := cn.e.ChannelInfo(context.Background(), cn.app, channel, true)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (cn *clusterNode) publish(t testing.TB, channel, event, data string) {
	t.Helper()
	if err := cn.e.Publish(context.Background(), cn.app, Event{Channel: channel, Name: event, Data: data}); err != nil {
		t.Fatal(err)
	}
}

// TestClusterPublishOncePerSocket: a publish on any member reaches every subscriber on every
// member exactly once.
func TestClusterPublishOncePerSocket(t *testing.T) {
	tc := newTestCluster(t, 3)
	var sinks []*nodetest.Sink
	for _, cn := range tc.nodes {
		for range 2 {
			c, s := cn.connect(t)
			c.Subscribe("news", "", "")
			s.Expect(t, protocol.EventSubscriptionSucceeded)
			sinks = append(sinks, s)
		}
	}
	for i, cn := range tc.nodes {
		cn.publish(t, "news", "e", strconv.Itoa(i))
	}
	tc.nodes[0].publish(t, "news", "end", "")
	for _, s := range sinks {
		var got []string
		for _, f := range s.Until(t, "end") {
			got = append(got, f.Event+":"+f.DataString(t))
		}
		if fmt.Sprint(got) != "[e:0 e:1 e:2]" {
			t.Fatalf("a subscriber got %v", got)
		}
	}
	if info := tc.nodes[2].info(t, "news"); info.SubscriptionCount != 6 {
		t.Fatalf("info %+v", info)
	}
}

// heldFanout stands in for a fan-out on a third node: it reports each publish the grain delivers
// to it and confirms one (messages.Written) only while confirm is set.
type heldFanout struct {
	confirm  atomic.Bool
	delivers chan string // the publish ids delivered, as a request
}

func (h *heldFanout) Receive(ctx actor.Context) {
	if d, ok := ctx.Message().(*messages.Deliver); ok && d.PublishId != "" && ctx.Sender() != nil {
		h.delivers <- d.PublishId
		if h.confirm.Load() {
			ctx.Send(ctx.Sender(), &messages.Written{PublishId: d.PublishId, Fanout: ctx.Self()})
		}
	}
}

// TestClusterPublishWaitsForThirdNodes: the answer to a publish (the HTTP API's 200) waits until
// a fan-out on a node that is neither the grain's nor the publisher's confirmed it has the
// frame, so that a grain's member killed after the answer left cannot have kept the frame from
// that node. A confirmation that does not come is asked again with the publish's resend; a
// fan-out whose sockets left is waited for no longer.
func TestClusterPublishWaitsForThirdNodes(t *testing.T) {
	tc := newTestCluster(t, 3)
	ch := tc.channelOn(0, "third-")
	publisher, third := tc.nodes[1], tc.nodes[2]
	held := &heldFanout{delivers: make(chan string, 16)}
	fanout := third.e.system.Root.Spawn(actor.PropsFromFunc(held.Receive))
	res, err := third.e.askChannelGrain(context.Background(), "app", ch, &messages.Subscribe{AppId: "app", Channel: ch, SocketId: "held.1", Node: fanout})
	if r, ok := res.(*messages.SubscribeResult); err != nil || !ok || !r.Ok {
		t.Fatalf("subscribe: %v %+v", err, res)
	}
	publish := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			done <- publisher.e.Publish(context.Background(), publisher.app, Event{Channel: ch, Name: "e", Data: "x"})
		}()
		return done
	}
	next := func(what string) string {
		select {
		case id := <-held.delivers:
			return id
		case <-time.After(10 * time.Second):
			t.Fatalf("no Deliver %s", what)
			return ""
		}
	}

	// Not confirmed: no answer. The publisher's next attempt (after its 1 s) brings the Deliver
	// again, which is confirmed.
	done := publish()
	first := next("to the third node")
	select {
	case err := <-done:
		t.Fatalf("publish answered (%v) before the third node confirmed", err)
	case <-time.After(300 * time.Millisecond):
	}
	held.confirm.Store(true)
	if again := next("again, with the publish's resend"); again != first {
		t.Fatalf("delivered %s again, want %s", again, first)
	}
	if err := <-done; err != nil {
		t.Fatalf("publish: %v", err)
	}

	// Confirmed at once: answered.
	if err := <-publish(); err != nil {
		t.Fatalf("publish: %v", err)
	}
	next("confirmed")

	// Its socket left: nothing is awaited from it any more.
	held.confirm.Store(false)
	done = publish()
	next("before the socket leaves")
	third.e.system.Root.Send(third.e.n.Grains.ChannelPID("app", ch), &messages.Unsubscribe{AppId: "app", Channel: ch, SocketId: "held.1", Node: fanout})
	if err := <-done; err != nil {
		t.Fatalf("publish after the socket left: %v", err)
	}
}

// TestClusterPresenceExactAfterDeath: a member dies with sockets in two presence channels, one
// whose grain died with it (re-activated on a survivor and rebuilt from what the survivors
// know) and one whose grain survived (told that the member left). In both, each user whose every
// socket was on the dead member gets one member_removed at every surviving socket, a user with a
// socket on a survivor gets none, the roster is exact, and one member_removed webhook is
// produced per lost user.
func TestClusterPresenceExactAfterDeath(t *testing.T) {
	tc := newTestCluster(t, 3)
	dead := tc.nodes[2]
	channels := []string{tc.channelOn(2, "presence-dies-"), tc.channelOn(0, "presence-survives-")}
	watchers := map[string][]*nodetest.Sink{}
	for _, ch := range channels {
		s0 := tc.nodes[0].presence(t, ch, "u0")
		s1 := tc.nodes[1].presence(t, ch, "u1")
		tc.nodes[1].presence(t, ch, "both")
		dead.presence(t, ch, "gone")
		dead.presence(t, ch, "gone") // two sockets, one member
		dead.presence(t, ch, "both")
		if info := tc.nodes[0].info(t, ch); info.UserCount != 4 || info.SubscriptionCount != 6 {
			t.Fatalf("%s before: %+v", ch, info)
		}
		tc.nodes[0].publish(t, ch, "before", "")
		s0.Until(t, "before")
		s1.Until(t, "before")
		watchers[ch] = []*nodetest.Sink{s0, s1}
	}

	dead.e.Kill()
	tc.waitMembers(2)
	for _, ch := range channels {
		for i := range 2 {
			eventually(t, ch+" exact at node "+strconv.Itoa(i), func() bool {
				info := tc.nodes[i].info(t, ch)
				return fmt.Sprint(slices.Sorted(slices.Values(info.UserIds))) == "[both u0 u1]" && info.SubscriptionCount == 3
			})
		}
		// Everything the grain sent before this event reached each socket before it.
		tc.nodes[1].publish(t, ch, "after", "")
		for i, s := range watchers[ch] {
			var got []string
			for _, f := range s.Until(t, "after") {
				got = append(got, f.Event+" "+f.DataString(t))
			}
			if fmt.Sprint(got) != `[pusher_internal:member_removed {"user_id":"gone"}]` {
				t.Fatalf("%s: survivor %d got %v, want one member_removed of gone", ch, i, got)
			}
		}
	}

	// member_removed webhooks come after the delay, one per lost user per channel, from the
	// survivor that holds the channel's grain now.
	for i := range 2 {
		tc.nodes[i].clock.Advance(configs.Default().Webhooks.Delay)
	}
	for _, ch := range channels {
		tc.nodes[0].info(t, ch) // the grain has handled its check
	}
	var removed []string
	for i := range 2 {
		for _, ev := range tc.nodes[i].webhooks.Take() {
			if ev.Name == protocol.WebhookMemberRemoved {
				removed = append(removed, ev.Channel+"/"+ev.UserID)
			}
		}
	}
	slices.Sort(removed)
	if want := slices.Sorted(slices.Values([]string{channels[0] + "/gone", channels[1] + "/gone"})); fmt.Sprint(removed) != fmt.Sprint(want) {
		t.Fatalf("member_removed webhooks %v, want %v", removed, want)
	}
}

// stream is a steady flow of events to channels, each with a socket on some members: for tests
// of grains that move while events flow.
type stream struct {
	tc     *testCluster
	subs   []streamSub
	wg     sync.WaitGroup
	events int
	via    func(k int) *clusterNode // the member channel k's events are published through
	chans  []string
}

type streamSub struct {
	ch string
	s  *nodetest.Sink
}

// startStream subscribes a socket on each of the members at nodes to each channel, then
// publishes events 0..events-1 to each channel, every apart, through via(k) for channel k.
func (tc *testCluster) startStream(t *testing.T, channels []string, nodes []int, via func(k int) *clusterNode, events int, every time.Duration) *stream {
	t.Helper()
	st := &stream{tc: tc, events: events, via: via, chans: channels}
	for _, ch := range channels {
		for _, i := range nodes {
			c, s := tc.nodes[i].connect(t)
			c.Subscribe(ch, "", "")
			s.Expect(t, protocol.EventSubscriptionSucceeded)
			st.subs = append(st.subs, streamSub{ch, s})
		}
	}
	for k, ch := range channels {
		st.wg.Go(func() {
			for i := range events {
				cn := via(k)
				if err := cn.e.Publish(context.Background(), cn.app, Event{Channel: ch, Name: "e", Data: strconv.Itoa(i)}); err != nil {
					t.Errorf("%s: publish %d: %v", ch, i, err)
					return
				}
				time.Sleep(every) // a steady stream across the change under test
			}
		})
	}
	return st
}

// check waits for the stream to end and asserts that every subscriber got every event exactly
// once, in order.
func (st *stream) check(t *testing.T) {
	t.Helper()
	st.wg.Wait()
	for k, ch := range st.chans {
		st.via(k).publish(t, ch, "end", "")
	}
	for _, sb := range st.subs {
		frames := sb.s.Until(t, "end")
		if len(frames) != st.events {
			t.Fatalf("%s: a subscriber got %d events, want %d", sb.ch, len(frames), st.events)
		}
		for i, f := range frames {
			if f.DataString(t) != strconv.Itoa(i) {
				t.Fatalf("%s: event %d is %s", sb.ch, i, f.Raw)
			}
		}
	}
}

// TestClusterLeaveHandsOver: a member that leaves (SIGTERM) while events are published hands its
// grains over: every subscriber on the other members gets every event exactly once, in order;
// publishes to grains that stopped come back as dead letters and are retried.
//
// What its grains kept that no socket tells is handed over too: a cache channel's last event
// (a new subscriber gets it) and a member_removed check that was pending (it comes once).
func TestClusterLeaveHandsOver(t *testing.T) {
	tc := newTestCluster(t, 3)
	channels := []string{tc.channelOn(2, "moves-"), tc.channelOn(1, "stays-")}
	cached, room := tc.channelOn(2, "cache-moves-"), tc.channelOn(2, "presence-moves-")
	tc.nodes[0].publish(t, cached, "last", "kept")
	c, _ := tc.nodes[0].connect(t)
	data := `{"user_id":"leaver"}`
	c.Subscribe(room, protocol.ChannelAuth("key", "secret", c.SocketID(), room, data), data)
	eventually(t, "the member counted", func() bool { return tc.nodes[1].info(t, room).UserCount == 1 })
	c.Closed()
	eventually(t, "the pending member_removed on the member next in line", func() bool {
		r := tc.replicaOf(tc.backupOf(room), room)
		return r != nil && r.RemovalsDue["leaver"] != 0 && len(tc.replicaOf(tc.backupOf(cached), cached).GetCachedFrame()) > 0
	})

	st := tc.startStream(t, channels, []int{0, 1}, func(int) *clusterNode { return tc.nodes[0] }, 200, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	tc.nodes[2].e.Shutdown()
	st.check(t)
	tc.waitMembers(2)

	c, s := tc.nodes[1].connect(t)
	c.Subscribe(cached, "", "")
	s.Expect(t, protocol.EventSubscriptionSucceeded)
	if f := s.Next(t); f.Event != "last" {
		t.Fatalf("a new subscriber of %s got %s, want the cached event", cached, f.Raw)
	}
	hooks := tc.webhooksUntil(t, []int{0, 1}, "member_removed "+room+" leaver")
	if n := count(hooks, "member_removed "+room+" leaver"); n != 1 {
		t.Fatalf("member_removed %d times: %v", n, hooks)
	}
}

// TestClusterStaleActivationHandsOver: a rebuild of a grain on another member (whose view of the
// owner is ahead of this member's) asks this member for its part while this member's activation
// of the grain still runs, with a member_removed check pending. The stale activation stops before
// the check comes due, and the answer carries the check, newer than the replica the member next in
// line keeps: the rebuild goes on from what the stale one last had (a check it already sent is not
// in it), so the webhook goes out once, from the activation in charge.
func TestClusterStaleActivationHandsOver(t *testing.T) {
	tc := newTestCluster(t, 3)
	owner := tc.nodes[2]
	room := tc.channelOn(2, "presence-stale-")
	c, _ := tc.nodes[0].connect(t)
	data := `{"user_id":"leaver"}`
	c.Subscribe(room, protocol.ChannelAuth("key", "secret", c.SocketID(), room, data), data)
	eventually(t, "the member counted", func() bool { return tc.nodes[1].info(t, room).UserCount == 1 })
	c.Closed()
	var kept *messages.ChannelReplica
	eventually(t, "the pending member_removed on the member next in line", func() bool {
		kept = tc.replicaOf(tc.backupOf(room), room)
		return kept != nil && kept.RemovalsDue["leaver"] != 0
	})
	key := node.Key("app", room)
	if _, ok := owner.e.n.LocalGrains.Lookup(node.ChannelKind, key); !ok {
		t.Fatal("no activation of the grain on its owner")
	}

	// A rebuild on member 0 asks the owner for its part.
	res, err := tc.nodes[0].e.system.Root.RequestFuture(node.NodeActor(owner.e.system.Address()),
		&messages.NodeStateRequest{AppId: "app", Channel: room}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	handed := res.(*messages.NodeState).Replica
	if handed == nil || handed.RemovalsDue["leaver"] != kept.RemovalsDue["leaver"] || handed.Version <= kept.Version || handed.Holder != owner.e.system.Address() {
		t.Fatalf("the owner's answer carries %v, want the stale activation's pending check, newer than the kept replica %v", handed, kept)
	}
	if _, ok := owner.e.n.LocalGrains.Lookup(node.ChannelKind, key); ok {
		t.Fatal("the stale activation is still registered after handing over")
	}

	// The stale activation never sends its check; the activation now in charge (a read wakes it;
	// its rebuild has the check from the replica) sends it once.
	tc.nodes[1].info(t, room)
	hooks := tc.webhooksUntil(t, []int{0, 1, 2}, "member_removed "+room+" leaver")
	if n := count(hooks, "member_removed "+room+" leaver"); n != 1 {
		t.Fatalf("member_removed %d times: %v", n, hooks)
	}
}

// TestClusterConnectionQuota: max_connections counts every member's sockets, shared by gossip.
func TestClusterConnectionQuota(t *testing.T) {
	tc := newTestCluster(t, 3, func(a *configs.App) { a.Limits.MaxConnections = 2 })
	tc.nodes[0].connect(t)
	tc.nodes[1].connect(t)
	eventually(t, "node 2 to learn the others' sockets", func() bool { return tc.nodes[2].e.remote.Of("app") == 2 })
	if _, err := tc.nodes[2].e.Connect(tc.nodes[2].app, nodetest.NewSink()); err != ErrOverQuota {
		t.Fatalf("a third socket in the cluster: %v, want ErrOverQuota", err)
	}
}

// TestClusterJoinMovesGrains: a member that joins while events are published takes over the
// grains the hash ring gives it; each rebuilds from the members' sockets, and every subscriber
// gets every event exactly once, in order.
func TestClusterJoinMovesGrains(t *testing.T) {
	tc := newTestCluster(t, 3)
	var channels []string
	for k := range 24 { // a new member of four takes about a quarter
		channels = append(channels, "joins-"+strconv.Itoa(k))
	}
	st := tc.startStream(t, channels, []int{0, 1, 2}, func(k int) *clusterNode { return tc.nodes[k%3] }, 100, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	joined := tc.add()
	tc.waitMembers(4)
	st.check(t)
	moved := 0
	for _, ch := range channels {
		if tc.nodes[0].e.n.Grains.ChannelPID("app", ch).Address == joined.e.system.Address() {
			moved++
		}
	}
	if moved == 0 {
		t.Fatalf("none of %d channels moved to the new member: the test proves nothing", len(channels))
	}
	t.Logf("%d of %d channels moved to the new member", moved, len(channels))

	// The new member serves: a socket on it gets what is published through every member. (A
	// member whose view of the members was behind during the join must not have started a second
	// activation of a grain that keeps serving its publishes.)
	var late []*nodetest.Sink
	for _, ch := range channels {
		c, s := joined.connect(t)
		c.Subscribe(ch, "", "")
		s.Expect(t, protocol.EventSubscriptionSucceeded)
		late = append(late, s)
	}
	for i, cn := range tc.nodes {
		for _, ch := range channels {
			cn.publish(t, ch, "hello", strconv.Itoa(i))
		}
	}
	for k, s := range late {
		for i := range tc.nodes {
			if f := s.Expect(t, "hello"); f.DataString(t) != strconv.Itoa(i) {
				t.Fatalf("%s: the socket on the new member got %s, want hello from member %d", channels[k], f.Raw, i)
			}
		}
	}
}

// replicaOf asks the member at i for what it keeps of channel's grain (nil when nothing).
func (tc *testCluster) replicaOf(i int, channel string) *messages.ChannelReplica {
	tc.t.Helper()
	e := tc.nodes[i].e
	res, err := e.system.Root.RequestFuture(node.NodeActor(e.system.Address()), &messages.NodeStateRequest{AppId: "app", Channel: channel}, 5*time.Second).Result()
	if err != nil {
		tc.t.Fatal(err)
	}
	return res.(*messages.NodeState).Replica
}

// backupOf is the index of the member next in line for channel's grain.
func (tc *testCluster) backupOf(channel string) int {
	tc.t.Helper()
	addr := tc.nodes[0].e.n.Backup(node.ChannelKind, node.Key("app", channel))
	for i, cn := range tc.nodes {
		if cn.e.system.Address() == addr {
			return i
		}
	}
	tc.t.Fatalf("%s: no member next in line", channel)
	return -1
}

// webhooksUntil advances the clocks of the members at nodes a second at a time and collects
// their webhook events (as "name channel user") until want are all among them, then a delay
// more, and returns them all.
func (tc *testCluster) webhooksUntil(t *testing.T, nodes []int, want ...string) []string {
	t.Helper()
	var got []string
	has := func() bool {
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	}
	collect := func() {
		for _, i := range nodes {
			tc.nodes[i].clock.Advance(time.Second)
			for _, ev := range tc.nodes[i].webhooks.Take() {
				got = append(got, strings.TrimSpace(ev.Name+" "+ev.Channel+" "+ev.UserID))
			}
		}
	}
	eventually(t, fmt.Sprintf("webhooks %v", want), func() bool {
		collect()
		return has()
	})
	for range 4 { // nothing more comes: none twice
		time.Sleep(50 * time.Millisecond)
		collect()
	}
	return got
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// TestClusterStateOutlivesItsMember: a member dies with grains whose state no survivor could
// rebuild from its sockets: a cache channel's last event (no subscriber anywhere), a presence
// channel whose every member was on it, a channel whose channel_vacated check was pending. The
// member next in line kept it: a new subscriber gets the cached event, and member_removed and
// channel_vacated come once each, from a survivor, without anyone touching those channels.
func TestClusterStateOutlivesItsMember(t *testing.T) {
	tc := newTestCluster(t, 3)
	dead := tc.nodes[2]
	cached := tc.channelOn(2, "cache-dies-")
	alone := tc.channelOn(2, "presence-alone-")
	vacates := tc.channelOn(2, "vacates-")

	tc.nodes[0].publish(t, cached, "last", "kept")
	dead.presence(t, alone, "a")
	dead.presence(t, alone, "b")
	c, s := tc.nodes[1].connect(t)
	c.Subscribe(vacates, "", "")
	s.Expect(t, protocol.EventSubscriptionSucceeded)
	c.Unsubscribe(vacates)
	eventually(t, "replicas on the members next in line", func() bool {
		rc, ra, rv := tc.replicaOf(tc.backupOf(cached), cached), tc.replicaOf(tc.backupOf(alone), alone), tc.replicaOf(tc.backupOf(vacates), vacates)
		return rc != nil && len(rc.CachedFrame) > 0 &&
			ra != nil && len(ra.Members) == 2 && ra.Occupied &&
			rv != nil && rv.VacateDueUnixNano != 0
	})
	for _, cn := range tc.nodes {
		cn.webhooks.Take()
	}

	dead.e.Kill()
	tc.waitMembers(2)
	hooks := tc.webhooksUntil(t, []int{0, 1},
		"member_removed "+alone+" a", "member_removed "+alone+" b", "channel_vacated "+alone, "channel_vacated "+vacates)
	for _, h := range []string{"member_removed " + alone + " a", "member_removed " + alone + " b", "channel_vacated " + alone, "channel_vacated " + vacates} {
		if count(hooks, h) != 1 {
			t.Fatalf("%q %d times in %v", h, count(hooks, h), hooks)
		}
	}
	c, s = tc.nodes[1].connect(t)
	c.Subscribe(cached, "", "")
	s.Expect(t, protocol.EventSubscriptionSucceeded)
	if f := s.Next(t); f.Event != "last" || f.DataString(t) != "kept" {
		t.Fatalf("a new subscriber of %s got %s, want the cached event", cached, f.Raw)
	}
}

// TestClusterReadsAfterDeath: GET /channels and channel info asked after a member died but
// before the membership reports it gone answer as soon as it does, from the survivors, well
// within the request's deadline (2 s here; proto.actor alone waits 5 s for the dead member's
// placement or node actor, and the read would fail); while the
// membership still counts the dead member, a read that cannot wait longer gets ErrUnavailable,
// never a partial list.
func TestClusterReadsAfterDeath(t *testing.T) {
	tc := newTestCluster(t, 3)
	dead := tc.nodes[2]
	ch := tc.channelOn(2, "read-")
	for _, i := range []int{0, 2} {
		c, s := tc.nodes[i].connect(t)
		c.Subscribe(ch, "", "")
		s.Expect(t, protocol.EventSubscriptionSucceeded)
	}
	tc.nodes[0].info(t, ch) // node 0 has the grain's place cached

	tc.members.Hold()
	dead.e.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if list, err := tc.nodes[0].e.Channels(ctx, tc.nodes[0].app, ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a member that cannot answer must fail the list, not shorten it: %v, %v", list, err)
	}
	cancel()

	type read struct {
		list []string
		info *ChannelInfo
		err  error
		took time.Duration
	}
	reads := make(chan read, 2)
	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	go func() {
		list, err := tc.nodes[0].e.Channels(ctx, tc.nodes[0].app, "")
		reads <- read{list: list, err: err, took: time.Since(start)}
	}()
	go func() {
		info, err := tc.nodes[1].e.ChannelInfo(ctx, tc.nodes[1].app, ch, false)
		reads <- read{info: info, err: err, took: time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond) // the membership's failure detection
	tc.members.Release()
	for range 2 {
		r := <-reads
		if r.err != nil {
			t.Fatalf("a read after the membership reported the death: %v", r.err)
		}
		if r.info == nil && fmt.Sprint(r.list) != "["+ch+"]" {
			t.Fatalf("channels %v, want [%s]", r.list, ch)
		}
		if r.info != nil && r.info.SubscriptionCount != 1 {
			t.Fatalf("info %+v, want the one surviving subscriber", r.info)
		}
		t.Logf("answered %v after the death (the membership told after 200ms)", r.took)
	}
}

// TestClusterClientEventsAcrossMove: client events sent while their channel's grain moves (its
// member dies) reach the other subscriber each exactly once: they are requests the grain
// acknowledges, sent again to the grain in charge when one goes unanswered, and a node writes
// each once even if the dead grain had delivered it before it died.
func TestClusterClientEventsAcrossMove(t *testing.T) {
	tc := newTestCluster(t, 3, func(a *configs.App) { a.Limits.MaxClientEventsPerSecond = 0 })
	ch := tc.channelOn(2, "private-moves-")
	subscribe := func(cn *clusterNode) (*Connection, *nodetest.Sink) {
		c, s := cn.connect(t)
		c.Subscribe(ch, protocol.ChannelAuth("key", "secret", c.SocketID(), ch, ""), "")
		s.Expect(t, protocol.EventSubscriptionSucceeded)
		return c, s
	}
	sender, _ := subscribe(tc.nodes[0])
	_, receiver := subscribe(tc.nodes[1])

	const events = 150
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range events {
			sender.ClientEvent("client-n", ch, json.RawMessage(strconv.Itoa(i)))
			time.Sleep(5 * time.Millisecond) // a steady stream across the move
		}
	}()
	time.Sleep(100 * time.Millisecond)
	tc.nodes[2].e.Kill()
	<-done
	got := map[string]int{}
	for len(got) < events {
		f := receiver.Next(t)
		if f.Event != "client-n" {
			t.Fatalf("unexpected %s", f.Raw)
		}
		got[string(f.Data)]++
	}
	tc.nodes[0].publish(t, ch, "end", "")
	for _, f := range receiver.Until(t, "end") {
		got[string(f.Data)]++
	}
	for i := range events {
		if n := got[strconv.Itoa(i)]; n != 1 {
			t.Fatalf("client event %d arrived %d times", i, n)
		}
	}
}

// BenchmarkClusterPublish measures what keeping a cache channel's last event on the member next
// in line costs an HTTP publish: one publish at a time through member 0 to a grain on member 1,
// with a subscriber on member 2, for a plain channel, a cache channel, and a cache channel
// whose grain keeps no replica.
//
//	go test -run '^$' -bench BenchmarkClusterPublish -benchtime 3000x ./actors/
func BenchmarkClusterPublish(b *testing.B) {
	for _, c := range []struct {
		name, prefix string
		noReplica    bool
	}{{"plain", "bench-", false}, {"cache", "cache-bench-", false}, {"cache-no-replica", "cache-bench-nr-", true}} {
		b.Run(c.name, func(b *testing.B) {
			tc := newTestCluster(b, 3)
			if c.noReplica {
				for _, cn := range tc.nodes {
					cn.e.n.Backup = func(string, string) string { return "" }
				}
			}
			ch := tc.channelOn(1, c.prefix)
			conn, s := tc.nodes[2].connect(b)
			conn.Subscribe(ch, "", "")
			s.Expect(b, protocol.EventSubscriptionSucceeded)
			go func() { // the subscriber reads everything
				for {
					if _, ok := s.NextWithin(b, 10*time.Second); !ok {
						return
					}
				}
			}()
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if err := tc.nodes[0].e.Publish(ctx, tc.nodes[0].app, Event{Channel: ch, Name: "e", Data: strconv.Itoa(i)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestClusterRestartAtSameAddress: a member killed and started again at the same address takes
// its grains back; they rebuild from every member (the restarted one knows none of them at
// first), and publishes through any member reach the subscribers on the others.
func TestClusterRestartAtSameAddress(t *testing.T) {
	tc := newTestCluster(t, 3)
	var channels []string
	for k := range 12 {
		channels = append(channels, tc.channelOn(2, "back-"+strconv.Itoa(k)+"-"))
	}
	var sinks []*nodetest.Sink
	for _, ch := range channels {
		for _, i := range []int{0, 1} {
			c, s := tc.nodes[i].connect(t)
			c.Subscribe(ch, "", "")
			s.Expect(t, protocol.EventSubscriptionSucceeded)
			sinks = append(sinks, s)
		}
	}
	addr := tc.nodes[2].e.system.Address()
	tc.nodes[2].e.Kill()
	tc.waitMembers(2)
	for k, ch := range channels {
		tc.nodes[k%2].publish(t, ch, "while-down", "")
	}
	tc.nodes = tc.nodes[:2]
	back := tc.addAt(addr)
	tc.waitMembers(3)
	// The member count changes first; each node then drops the placements it cached, on its
	// node actor.
	eventually(t, "every grain back on "+addr, func() bool {
		for _, ch := range channels {
			if tc.nodes[0].e.n.Grains.ChannelPID("app", ch).Address != addr {
				return false
			}
		}
		return true
	})
	for k, ch := range channels {
		for _, cn := range []*clusterNode{tc.nodes[0], tc.nodes[1], back} {
			cn.publish(t, ch, "after", strconv.Itoa(k))
		}
	}
	for i, s := range sinks {
		got := []string{}
		s.Until(t, "while-down")
		for range 3 {
			f := s.Next(t)
			got = append(got, f.Event)
		}
		if fmt.Sprint(got) != "[after after after]" {
			t.Fatalf("subscriber %d of %s got %v", i, channels[i/2], got)
		}
	}
}
