package channel

// countCoalescer sends pusher_internal:subscription_count at most once per interval per
// channel, and only when the count changed: a burst of joins sends one update, not one a join.
type countCoalescer struct {
	scheduled bool  // an update is scheduled
	sent      int64 // the count last sent, -1 before the first
}

func newCountCoalescer() *countCoalescer { return &countCoalescer{sent: -1} }

// changed is a change of the count: true when an update is to be scheduled.
func (c *countCoalescer) changed() bool {
	if c.scheduled {
		return false
	}
	c.scheduled = true
	return true
}

// due is the scheduled update with the count now: true when it differs from the last sent.
func (c *countCoalescer) due(count int64) bool {
	c.scheduled = false
	if count == c.sent {
		return false
	}
	c.sent = count
	return true
}
