package cluster

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
)

const connectionsGossipKey = "herald-connections"

// RemoteConnections are the other members' socket counts per app, from gossip, so that
// max_connections counts the whole cluster (to within a gossip interval), and the longest delay
// any other member reported for its sockets' queues, for the cluster's backpressure.
type RemoteConnections struct {
	byApp atomic.Pointer[map[string]int64]
	delay atomic.Int64 // nanoseconds

	// OwnDelay is this node's delay, gossiped to the others; nil reports none.
	OwnDelay atomic.Pointer[func() time.Duration]
}

// Delay is the longest delay another member reported.
func (r *RemoteConnections) Delay() time.Duration {
	if r == nil {
		return 0
	}
	return time.Duration(r.delay.Load())
}

// Of is the other members' sockets of app.
func (r *RemoteConnections) Of(appID string) int64 {
	if r == nil {
		return 0
	}
	if m := r.byApp.Load(); m != nil {
		return (*m)[appID]
	}
	return 0
}

// GossipConnections shares this node's socket counts every interval and sums the others', until
// ctx ends.
func (m *Member) GossipConnections(ctx context.Context, apps *node.Apps, interval time.Duration, into *RemoteConnections) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		own := &messages.NodeConnections{ByApp: map[string]int64{}}
		if f := into.OwnDelay.Load(); f != nil {
			own.DeliveryDelayMs = (*f)().Milliseconds()
		}
		for _, app := range apps.All() {
			own.ByApp[app.ID] = app.Connections()
		}
		m.c.Gossip.SetState(connectionsGossipKey, own)
		states, err := m.c.Gossip.GetState(connectionsGossipKey)
		if err != nil {
			continue
		}
		live := map[string]bool{}
		for _, mem := range m.c.MemberList.Members().Members() {
			live[mem.Id] = true
		}
		sum := map[string]int64{}
		var delay int64
		for memberID, kv := range states {
			if memberID == m.c.ActorSystem.ID || !live[memberID] || kv.GetValue() == nil {
				continue
			}
			var nc messages.NodeConnections
			if err := kv.GetValue().UnmarshalTo(&nc); err != nil {
				continue
			}
			for app, n := range nc.ByApp {
				sum[app] += n
			}
			delay = max(delay, nc.DeliveryDelayMs)
		}
		into.byApp.Store(&sum)
		into.delay.Store(int64(time.Duration(delay) * time.Millisecond))
	}
}
