package node

// RecentIDs remembers the last publish ids seen, so that a publish sent again (its requester
// timed out waiting for the answer, or the grain that took it died before answering) is taken
// once: the channel grain publishes each id once, and each node's fan-out writes each id once
// even when a grain that died had delivered it before its successor took it again. It holds a
// fixed number of ids: a repeat arrives within a second or two of the first, and only a channel
// taking more publishes than it holds in that time could miss one. The ids are kept as they
// come, so a channel with few publishes costs little.
type RecentIDs struct {
	ids  map[string]struct{}
	ring []string
	next int
	kept int
}

// NewRecentIDs remembers the last kept ids.
func NewRecentIDs(kept int) *RecentIDs {
	return &RecentIDs{ids: map[string]struct{}{}, kept: kept}
}

// Seen records id and reports whether it was recorded before. An empty id is never a repeat.
func (r *RecentIDs) Seen(id string) bool {
	if id == "" {
		return false
	}
	if _, ok := r.ids[id]; ok {
		return true
	}
	if len(r.ring) < r.kept {
		r.ring = append(r.ring, id)
	} else {
		delete(r.ids, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % r.kept
	}
	r.ids[id] = struct{}{}
	return false
}
