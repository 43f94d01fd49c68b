package cluster

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v5"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
)

// replicas are the channel grains' state this member keeps as the member next in line for them
// (channel/replica.go says what and why). The node actor owns them: it applies each
// ReplicaUpdate, hands a grain's replica to its next activation with this node's part of the
// channel, and wakes the grains whose owner died with something still to announce.
type replicas struct {
	byKey map[string]*keptReplica // node.Key(app, channel) -> replica
	// dropped are the keys whose replica was dropped lately, in two generations of
	// droppedMemory each: an update that is not whole for one of them comes from an activation
	// that was replaced (a member leaving hands its grains over while it still serves them), and
	// must not bring back its stale checks for the next activation to send again.
	dropped, droppedBefore map[string]struct{}
	droppedSince           time.Time
}

// droppedMemory is how long a dropped replica's key refuses partial updates, at least.
const droppedMemory = time.Minute

type keptReplica struct {
	owner   string
	r       *messages.ChannelReplica // Members unused: members holds them
	members map[string]struct{}
}

func newReplicas() *replicas {
	return &replicas{byKey: map[string]*keptReplica{}, dropped: map[string]struct{}{}, droppedBefore: map[string]struct{}{}}
}

// apply takes an update at now. An activation's first update to a member is its whole state;
// a partial one from another activation than the kept state's, or for a key dropped lately, is
// stale and ignored.
func (s *replicas) apply(u *messages.ReplicaUpdate, now time.Time) {
	key := node.Key(u.AppId, u.Channel)
	if u.Drop {
		delete(s.byKey, key)
		if now.Sub(s.droppedSince) > droppedMemory {
			s.droppedBefore, s.dropped, s.droppedSince = s.dropped, map[string]struct{}{}, now
		}
		s.dropped[key] = struct{}{}
		return
	}
	k := s.byKey[key]
	if !u.Whole {
		_, gone := s.dropped[key]
		_, goneBefore := s.droppedBefore[key]
		if (k == nil && (gone || goneBefore)) || (k != nil && k.owner != u.Owner) {
			return
		}
	} else {
		delete(s.dropped, key)
		delete(s.droppedBefore, key)
	}
	if k == nil || u.Whole {
		k = &keptReplica{r: &messages.ChannelReplica{}, members: map[string]struct{}{}}
		s.byKey[key] = k
	}
	k.owner = u.Owner
	r := k.r
	r.Version, r.Occupied, r.VacateDueUnixNano, r.RemovalsDue = u.Version, u.Occupied, u.VacateDueUnixNano, u.RemovalsDue
	if len(u.CachedFrame) > 0 {
		r.CachedFrame, r.CacheExpiresUnixNano = u.CachedFrame, u.CacheExpiresUnixNano
	}
	for _, id := range u.MembersAdded {
		k.members[id] = struct{}{}
	}
	for _, id := range u.MembersRemoved {
		delete(k.members, id)
	}
}

// get is the replica of key for a grain that rebuilds, nil when this member keeps none.
func (s *replicas) get(key, holder string) *messages.ChannelReplica {
	k := s.byKey[key]
	if k == nil {
		return nil
	}
	r := k.r
	return &messages.ChannelReplica{
		Holder: holder, Version: r.Version, CachedFrame: r.CachedFrame, CacheExpiresUnixNano: r.CacheExpiresUnixNano,
		Occupied: r.Occupied, VacateDueUnixNano: r.VacateDueUnixNano, RemovalsDue: maps.Clone(r.RemovalsDue),
		Members: slices.Collect(maps.Keys(k.members)),
	}
}

// replicaOf is the replica a member keeping u, a whole update, would hand to a rebuild.
func replicaOf(u *messages.ReplicaUpdate, holder string) *messages.ChannelReplica {
	kept := newReplicas()
	kept.apply(u, time.Time{})
	return kept.get(node.Key(u.AppId, u.Channel), holder)
}

// orphaned are the keys whose grain was on a member that left and that have something to
// announce: members, an occupied channel, or pending checks (a cache channel's event alone waits
// for the next subscriber to activate the grain); and the keys with pending checks whose grain a
// member that joined now owns (owner is the new ring's): the activation that was stopped there
// had them, and nothing may ask for the grain again (a channel without subscribers).
func (s *replicas) orphaned(left map[string]bool, owner func(key string) string) []string {
	var out []string
	for key, k := range s.byKey {
		checks := k.r.VacateDueUnixNano != 0 || len(k.r.RemovalsDue) > 0
		switch {
		case left[k.owner]:
			if checks || k.r.Occupied || len(k.members) > 0 {
				out = append(out, key)
			}
		case checks && owner(key) != k.owner:
			out = append(out, key)
		}
	}
	return out
}

// Waking grains whose owner died: a few at a time, each asked again (found anew) until the
// member now in charge answers. The waits are on the real clock: they wait for the cluster.
const (
	wakeWorkers  = 8
	wakeAttempts = 30
	wakeAttempt  = time.Second
	wakePause    = 100 * time.Millisecond
)

// wakeGrains activates the channel grains of keys on their new owners, which rebuild from every
// member (this one's replica included) and announce what was lost.
func wakeGrains(n *node.Node, keys []string) {
	work := make(chan string)
	for range min(wakeWorkers, len(keys)) {
		go func() {
			for key := range work {
				wakeGrain(n, key)
			}
		}()
	}
	go func() {
		for _, key := range keys {
			work <- key
		}
		close(work)
	}()
}

// errAsleep: the grain's member did not answer a wake-up yet (a dead letter or a timeout).
var errAsleep = errors.New("the grain did not answer its wake-up")

func wakeGrain(n *node.Node, key string) {
	appID, channel := node.SplitKey(key)
	req := &messages.ChannelInfoRequest{AppId: appID, Channel: channel}
	ask := func() (struct{}, error) {
		res, err := n.Root.RequestFuture(n.Grains.ChannelPID(appID, channel), req, wakeAttempt).Result()
		if _, dead := res.(*actor.DeadLetterResponse); err == nil && !dead {
			return struct{}{}, nil
		}
		if err != nil && !errors.Is(err, actor.ErrDeadLetter) && !errors.Is(err, actor.ErrTimeout) {
			return struct{}{}, backoff.Permanent(err) // asking again would not help
		}
		n.Grains.Forget(node.ChannelKind, key) // found anew on the next attempt
		return struct{}{}, errAsleep
	}
	_, _ = backoff.Retry(context.Background(), ask,
		backoff.WithBackOff(backoff.NewConstantBackOff(wakePause)), backoff.WithMaxTries(wakeAttempts))
}
