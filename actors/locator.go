package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// grainLocator finds the grain of a channel or a user, activating it when needed. On one node
// it is localGrains; in a cluster it is proto.actor's identity lookup (clusterGrains).
type grainLocator interface {
	channelPID(appID, channel string) *actor.PID
	userPID(appID, userID string) *actor.PID
	// release is called by a local grain that is stopping, so the next lookup activates a new one.
	release(kind, key string, pid *actor.PID)
	// forget drops a cached location after a dead letter; topologyChanged drops them all.
	forget(kind, key string)
	topologyChanged()
}

// localRegistry maps keys to actors spawned on demand on this node. An actor that stops calls
// release first; a message that reaches it after that is a dead letter, which a requester sees
// as *actor.DeadLetterResponse and retries through the registry.
type localRegistry struct {
	root     *actor.RootContext
	props    func(key string) *actor.Props
	mu       sync.Mutex
	pids     map[string]*actor.PID
	inflight map[string]int // requests sent with request() and not yet marked done()
}

func newLocalRegistry(root *actor.RootContext, props func(key string) *actor.Props) *localRegistry {
	return &localRegistry{root: root, props: props, pids: map[string]*actor.PID{}, inflight: map[string]int{}}
}

func (r *localRegistry) get(key string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.getLocked(key)
}

func (r *localRegistry) getLocked(key string) *actor.PID {
	if pid, ok := r.pids[key]; ok {
		return pid
	}
	pid := r.root.Spawn(r.props(key))
	r.pids[key] = pid
	return pid
}

// request sends msg to the actor of key, spawning it if needed, and counts it in flight until
// the actor calls done. An actor that stops when idle asks releaseIfIdle first, which refuses
// while a request is in flight: proto.actor drops the messages a stopping actor still has
// without a dead-letter answer, so this hand-off is what makes a join never get lost.
func (r *localRegistry) request(sender actor.SenderContext, key string, msg any) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid := r.getLocked(key)
	r.inflight[key]++
	sender.Request(pid, msg)
	return pid
}

// done marks one request to key as processed.
func (r *localRegistry) done(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight[key]--; r.inflight[key] <= 0 {
		delete(r.inflight, key)
	}
}

// releaseIfIdle removes the actor of key unless a request to it is in flight; the caller
// stops only when it returns true.
func (r *localRegistry) releaseIfIdle(key string, pid *actor.PID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight[key] > 0 {
		return false
	}
	if cur, ok := r.pids[key]; ok && cur.Equal(pid) {
		delete(r.pids, key)
	}
	return true
}

func (r *localRegistry) lookup(key string) (*actor.PID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, ok := r.pids[key]
	return pid, ok
}

func (r *localRegistry) release(key string, pid *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.pids[key]; ok && cur.Equal(pid) {
		delete(r.pids, key)
	}
}

// keys returns the keys with a live actor that start with prefix.
func (r *localRegistry) keys(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.pids {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, k)
		}
	}
	return out
}

// all returns every live actor.
func (r *localRegistry) all() []*actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*actor.PID, 0, len(r.pids))
	for _, p := range r.pids {
		out = append(out, p)
	}
	return out
}

// channelKey is the registry key of (app, channel). App ids and channel names cannot hold NUL.
func channelKey(appID, channel string) string { return appID + "\x00" + channel }

func splitChannelKey(key string) (appID, channel string) {
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}

// localGrains is the grainLocator of a single node: grains are plain local actors.
type localGrains struct{ channels, users *localRegistry }

func (l *localGrains) channelPID(appID, channel string) *actor.PID {
	return l.channels.get(channelKey(appID, channel))
}

func (l *localGrains) userPID(appID, userID string) *actor.PID {
	return l.users.get(channelKey(appID, userID))
}

func (l *localGrains) forget(string, string) {} // a local grain releases itself as it stops
func (l *localGrains) topologyChanged()      {}

func (l *localGrains) release(kind, key string, pid *actor.PID) {
	if kind == userKind {
		l.users.release(key, pid)
	} else {
		l.channels.release(key, pid)
	}
}
