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
// max_connections counts the whole cluster (to within a gossip interval).
type RemoteConnections struct {
	byApp atomic.Pointer[map[string]int64]
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
		}
		into.byApp.Store(&sum)
	}
}
