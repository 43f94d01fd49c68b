package node

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Registry maps keys to actors spawned on demand on this node: the node's fan-out actors by
// channel, and the grains of a single node. An actor that stops calls Release (or
// ReleaseIfIdle) first; a message that reaches it after that is a dead letter, which a requester
// sees as *actor.DeadLetterResponse and retries through the registry.
type Registry struct {
	root     *actor.RootContext
	props    func(key string) *actor.Props
	mu       sync.Mutex
	pids     map[string]*actor.PID
	inflight map[string]int // requests sent with Request and not yet marked Done
	idle     map[string]bool
}

// NewRegistry makes a registry whose actors props makes.
func NewRegistry(root *actor.RootContext, props func(key string) *actor.Props) *Registry {
	return &Registry{root: root, props: props, pids: map[string]*actor.PID{}, inflight: map[string]int{}, idle: map[string]bool{}}
}

// Get returns the actor of key, spawning it if there is none.
func (r *Registry) Get(key string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.getLocked(key)
}

func (r *Registry) getLocked(key string) *actor.PID {
	if pid, ok := r.pids[key]; ok {
		return pid
	}
	pid := r.root.Spawn(r.props(key))
	r.pids[key] = pid
	return pid
}

// Request sends msg to the actor of key, spawning it if needed, and counts it in flight until
// the actor calls Done. An actor that stops when idle asks ReleaseIfIdle first, which refuses
// while a request is in flight: proto.actor drops the messages a stopping actor still has
// without a dead-letter answer, so this hand-off is what makes a join never get lost.
func (r *Registry) Request(sender actor.SenderContext, key string, msg any) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid := r.getLocked(key)
	r.inflight[key]++
	sender.Request(pid, msg)
	return pid
}

// Done marks one request to key as processed.
func (r *Registry) Done(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight[key]--; r.inflight[key] <= 0 {
		delete(r.inflight, key)
	}
}

// ReleaseIfIdle removes the actor of key unless a request to it is in flight; the caller stops
// only when it returns true.
func (r *Registry) ReleaseIfIdle(key string, pid *actor.PID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight[key] > 0 {
		return false
	}
	r.releaseLocked(key, pid)
	return true
}

// Release removes the actor of key, if pid is still the one registered.
func (r *Registry) Release(key string, pid *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseLocked(key, pid)
}

func (r *Registry) releaseLocked(key string, pid *actor.PID) {
	if cur, ok := r.pids[key]; ok && cur.Equal(pid) {
		delete(r.pids, key)
		delete(r.idle, key)
	}
}

// SetIdle marks the actor of key as idle (alive, but with nothing to list: a fan-out with no
// sockets that lingers) or not; Keys leaves idle actors out.
func (r *Registry) SetIdle(key string, pid *actor.PID, idle bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.pids[key]; !ok || !cur.Equal(pid) {
		return
	}
	if idle {
		r.idle[key] = true
	} else {
		delete(r.idle, key)
	}
}

// Lookup returns the actor of key without spawning one.
func (r *Registry) Lookup(key string) (*actor.PID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, ok := r.pids[key]
	return pid, ok
}

// Keys returns the keys with a live actor, not idle, that start with prefix.
func (r *Registry) Keys(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.pids {
		if strings.HasPrefix(k, prefix) && !r.idle[k] {
			out = append(out, k)
		}
	}
	return out
}

// All returns every live actor.
func (r *Registry) All() []*actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Values(r.pids))
}

// Activations are the cluster grains active on this node, by kind and identity, safe from any
// goroutine: the node actor tells them when a member leaves, and finds the one a rebuild on
// another member supersedes.
type Activations struct {
	mu   sync.Mutex
	pids map[string]*actor.PID // GrainKey -> activation
}

// Add records pid as the activation of the grain.
func (s *Activations) Add(kind, identity string, pid *actor.PID) {
	s.mu.Lock()
	if s.pids == nil {
		s.pids = map[string]*actor.PID{}
	}
	s.pids[GrainKey(kind, identity)] = pid
	s.mu.Unlock()
}

// Remove forgets pid, if it is still the grain's activation here.
func (s *Activations) Remove(kind, identity string, pid *actor.PID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key := GrainKey(kind, identity); s.pids[key] != nil && s.pids[key].Equal(pid) {
		delete(s.pids, key)
	}
}

// Lookup is the grain's activation on this node, if any.
func (s *Activations) Lookup(kind, identity string) (*actor.PID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pid, ok := s.pids[GrainKey(kind, identity)]
	return pid, ok
}

// All lists the activations.
func (s *Activations) All() []*actor.PID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.pids))
}
