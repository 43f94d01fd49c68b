package actors

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/k8s"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/herald-io/herald/actors/messages"
)

// ClusterOptions make the engine a member of a proto.actor cluster.
type ClusterOptions struct {
	Name    string // members with the same name form one cluster
	Address string // host:port of this member's proto.actor remote (gRPC)
	// Provider is "automanaged" (a static list of seeds, each member's AutoManagedPort),
	// "etcd" or "k8s".
	Provider        string
	AutoManagedPort int      // automanaged: this member's health endpoint port
	Seeds           []string // automanaged: host:port of every member's health endpoint
	EtcdEndpoints   []string // etcd: client endpoints
	EtcdPrefix      string   // etcd: key prefix (default /herald)
	RebuildTimeout  time.Duration
}

// Kinds of cluster grains.
const (
	channelKind   = "channel"
	userKind      = "user"
	nodeActorName = "herald-node"
)

// clusterGrains is the grainLocator of a cluster: proto.actor's disthash identity lookup with
// a PID cache in front, so the hot path does not ask the owner member each time. The cache is
// emptied on every topology change (grains move when members join or leave) and an entry is
// dropped when a request to it comes back as a dead letter.
type clusterGrains struct {
	c     *cluster.Cluster
	cache sync.Map // kind + "/" + identity -> *actor.PID
}

func (g *clusterGrains) pid(identity, kind string) *actor.PID {
	key := kind + "/" + identity
	if pid, ok := g.cache.Load(key); ok {
		return pid.(*actor.PID)
	}
	for attempt := 0; attempt < 3; attempt++ {
		if pid := g.c.Get(identity, kind); pid != nil {
			g.cache.Store(key, pid)
			return pid
		}
	}
	// No owner answered (a topology change in progress): a dead letter tells the requester.
	return actor.NewPID("nonhost", "unresolved/"+kind)
}

func (g *clusterGrains) channelPID(appID, channel string) *actor.PID {
	return g.pid(channelKey(appID, channel), channelKind)
}

func (g *clusterGrains) userPID(appID, userID string) *actor.PID {
	return g.pid(channelKey(appID, userID), userKind)
}

func (g *clusterGrains) release(string, string, *actor.PID) {
	// proto.actor's cluster middleware tells the owner's placement actor when a grain stops.
}

func (g *clusterGrains) forget(kind, key string) { g.cache.Delete(kind + "/" + key) }

func (g *clusterGrains) topologyChanged() { g.cache.Clear() }

func (e *Engine) startCluster(o ClusterOptions) error {
	host, portText, err := net.SplitHostPort(o.Address)
	if err != nil {
		return fmt.Errorf("cluster address %q: %w", o.Address, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("cluster address %q: %w", o.Address, err)
	}
	var provider cluster.ClusterProvider
	switch o.Provider {
	case "", "automanaged":
		provider = automanaged.NewWithConfig(time.Second, o.AutoManagedPort, o.Seeds...)
	case "etcd":
		prefix := o.EtcdPrefix
		if prefix == "" {
			prefix = "/herald"
		}
		provider, err = etcd.NewWithConfig(prefix, clientv3.Config{Endpoints: o.EtcdEndpoints, DialTimeout: 5 * time.Second})
		if err != nil {
			return fmt.Errorf("etcd provider: %w", err)
		}
	case "k8s":
		provider, err = k8s.New()
		if err != nil {
			return fmt.Errorf("k8s provider: %w", err)
		}
	default:
		return fmt.Errorf("cluster provider %q: use automanaged, etcd or k8s", o.Provider)
	}
	channelProps := actor.PropsFromProducer(func() actor.Actor { return newChannelGrain(e, nil, "") })
	userProps := actor.PropsFromProducer(func() actor.Actor { return newUserGrain(e, "", "") })
	cfg := cluster.Configure(o.Name, provider, disthash.New(), remote.Configure(host, port),
		cluster.WithKinds(cluster.NewKind(channelKind, channelProps), cluster.NewKind(userKind, userProps)))
	e.cluster = cluster.New(e.system, cfg)
	e.grains = &clusterGrains{c: e.cluster}
	e.rebuildTimeout = o.RebuildTimeout
	if e.rebuildTimeout <= 0 {
		e.rebuildTimeout = 3 * time.Second
	}
	if err := startMember(e.cluster); err != nil {
		return err
	}
	e.system.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*cluster.ClusterTopology); ok {
			e.system.Root.Send(e.node, t)
		}
	})
	go e.gossipConnections()
	return nil
}

// startMember joins the cluster; proto.actor panics when it cannot (a port in use, say).
func startMember(c *cluster.Cluster) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("joining the cluster: %v", r)
		}
	}()
	c.StartMember()
	return nil
}

// members returns the addresses of the cluster's members (just this node without a cluster).
func (e *Engine) members() []string {
	if e.cluster == nil {
		return []string{e.system.Address()}
	}
	var out []string
	for _, m := range e.cluster.MemberList.Members().Members() {
		out = append(out, m.Address())
	}
	return out
}

// nodePID is the node actor of the member at address.
func nodePID(address string) *actor.PID { return actor.NewPID(address, nodeActorName) }

// Members is the number of cluster members (1 without a cluster).
func (e *Engine) Members() int { return len(e.members()) }

// ChannelsOnAllNodes lists the app's channels with subscribers anywhere in the cluster. It
// fails with ErrUnavailable when a member does not answer, rather than return a partial list.
func (e *Engine) ChannelsOnAllNodes(ctx context.Context, app *App, prefix string) ([]string, error) {
	members := e.members()
	type answer struct {
		channels []string
		err      error
	}
	answers := make(chan answer, len(members))
	for _, addr := range members {
		go func(addr string) {
			res, err := e.system.Root.RequestFuture(nodePID(addr), &messages.ListChannelsRequest{AppId: app.ID, Prefix: prefix}, e.askTimeout(ctx)).Result()
			if err != nil {
				answers <- answer{err: fmt.Errorf("%w: member %s: %v", ErrUnavailable, addr, err)}
				return
			}
			r, ok := res.(*messages.ListChannelsResponse)
			if !ok {
				answers <- answer{err: fmt.Errorf("%w: member %s answered %T", ErrUnavailable, addr, res)}
				return
			}
			answers <- answer{channels: r.Channels}
		}(addr)
	}
	seen := map[string]bool{}
	var out []string
	for range members {
		a := <-answers
		if a.err != nil {
			return nil, a.err
		}
		for _, ch := range a.channels {
			if !seen[ch] {
				seen[ch] = true
				out = append(out, ch)
			}
		}
	}
	return out, nil
}

func (e *Engine) askTimeout(ctx context.Context) time.Duration {
	timeout := e.ask
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	return timeout
}

// remoteConnections holds the other members' socket counts per app, from gossip.
type remoteConnections struct {
	byApp atomic.Pointer[map[string]int64]
}

func (r *remoteConnections) get(appID string) int64 {
	if m := r.byApp.Load(); m != nil {
		return (*m)[appID]
	}
	return 0
}

const connectionsGossipKey = "herald-connections"

// gossipConnections shares this node's socket counts every second and sums the others', so
// max_connections counts the whole cluster (to within a second).
func (e *Engine) gossipConnections() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-e.stopped:
			return
		case <-tick.C:
		}
		own := &messages.NodeConnections{ByApp: map[string]int64{}}
		for id, app := range e.apps.byID {
			own.ByApp[id] = app.connections.Load()
		}
		e.cluster.Gossip.SetState(connectionsGossipKey, own)
		states, err := e.cluster.Gossip.GetState(connectionsGossipKey)
		if err != nil {
			continue
		}
		live := map[string]bool{}
		for _, m := range e.cluster.MemberList.Members().Members() {
			live[m.Id] = true
		}
		sum := map[string]int64{}
		for memberID, kv := range states {
			if memberID == e.system.ID || !live[memberID] || kv.GetValue() == nil {
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
		e.remote.byApp.Store(&sum)
	}
}

// localGrainSet is the channel grains active on this node, told when a member leaves.
type localGrainSet struct {
	mu   sync.Mutex
	pids map[string]*actor.PID
}

func (s *localGrainSet) add(pid *actor.PID) {
	s.mu.Lock()
	if s.pids == nil {
		s.pids = map[string]*actor.PID{}
	}
	s.pids[pid.Id] = pid
	s.mu.Unlock()
}

func (s *localGrainSet) remove(pid *actor.PID) {
	s.mu.Lock()
	delete(s.pids, pid.Id)
	s.mu.Unlock()
}

func (s *localGrainSet) all() []*actor.PID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*actor.PID, 0, len(s.pids))
	for _, p := range s.pids {
		out = append(out, p)
	}
	return out
}
