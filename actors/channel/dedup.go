package channel

// recentPublishes remembers the ids of the last publishes a grain took, so that a publish sent
// again (its requester timed out waiting for the answer, while the grain was slow or rebuilding)
// is published once. It holds a fixed number of ids: a repeat arrives within a second or two of
// the first, and only a grain taking more publishes than it holds in that time could miss one.
type recentPublishes struct {
	ids  map[string]struct{}
	ring []string
	next int
}

const recentPublishesKept = 4096

func newRecentPublishes() *recentPublishes {
	return &recentPublishes{ids: map[string]struct{}{}}
}

// seen records id and reports whether it was recorded before. An empty id is never a repeat.
func (r *recentPublishes) seen(id string) bool {
	if id == "" {
		return false
	}
	if _, ok := r.ids[id]; ok {
		return true
	}
	if len(r.ring) < recentPublishesKept {
		r.ring = append(r.ring, id)
	} else {
		delete(r.ids, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % recentPublishesKept
	}
	r.ids[id] = struct{}{}
	return false
}
