package node

import "time"

// RecentIDs remembers the publish ids seen lately, so that a publish sent again (its requester
// timed out waiting for the answer, or the grain that took it died before answering) is taken
// once: the channel grain publishes each id once, and each node's fan-out writes each id once
// even when a grain that died had delivered it before its successor took it again. A repeat
// arrives within the sender's retries (request_timeout for the HTTP API, 10 s for a client
// event), so an id is held for a while (ttl) and at most kept ids at once: a channel taking more
// publishes than kept in that time could miss a repeat. The ids are held as they come and let
// go as they age, so a channel costs what its publishes of the last ttl take, not the most it
// ever held (4,096 ids of about 200 bytes on each of 1,000 busy channels were about 800 MB;
// bench/RESULTS.md section 19).
type RecentIDs struct {
	ids   map[string]struct{}
	queue []recentID // oldest first, from head
	head  int
	kept  int
	ttl   time.Duration
}

type recentID struct {
	id   string
	seen int64 // unix nanos
}

// recentShrinkAt is the queue capacity above which an emptied RecentIDs lets go of its map and
// queue (a Go map never shrinks), so a burst's memory does not outlive it.
const recentShrinkAt = 64

// NewRecentIDs holds an id for ttl, and at most kept ids at once.
func NewRecentIDs(kept int, ttl time.Duration) *RecentIDs {
	return &RecentIDs{ids: map[string]struct{}{}, kept: kept, ttl: ttl}
}

// Seen records id at now and reports whether it was recorded within ttl before. An empty id is
// never a repeat.
func (r *RecentIDs) Seen(id string, now time.Time) bool {
	if id == "" {
		return false
	}
	r.expire(now.Add(-r.ttl).UnixNano())
	if _, ok := r.ids[id]; ok {
		return true
	}
	if len(r.queue)-r.head >= r.kept {
		r.dropOldest()
	}
	if r.head > 0 && r.head >= len(r.queue)/2 {
		r.queue = append(r.queue[:0], r.queue[r.head:]...) // reuse the front, not grow
		r.head = 0
	}
	r.queue = append(r.queue, recentID{id: id, seen: now.UnixNano()})
	r.ids[id] = struct{}{}
	return false
}

// expire lets go of the ids seen before cutoff, and of the memory of a burst once none is left.
func (r *RecentIDs) expire(cutoff int64) {
	for r.head < len(r.queue) && r.queue[r.head].seen < cutoff {
		r.dropOldest()
	}
	if r.head == len(r.queue) && r.head > 0 {
		if cap(r.queue) > recentShrinkAt {
			r.ids, r.queue = map[string]struct{}{}, nil
		} else {
			r.queue = r.queue[:0]
		}
		r.head = 0
	}
}

func (r *RecentIDs) dropOldest() {
	delete(r.ids, r.queue[r.head].id)
	r.queue[r.head] = recentID{}
	r.head++
}

// Len is how many ids are held.
func (r *RecentIDs) Len() int { return len(r.queue) - r.head }
