package channel

import "time"

// lastEvent is a cache channel's last event, as the frame a new subscriber receives, kept for
// the app's cache_ttl.
type lastEvent struct {
	frame   []byte
	expires time.Time
}

func (c *lastEvent) set(frame []byte, now time.Time, ttl time.Duration) {
	c.frame, c.expires = frame, now.Add(ttl)
}

// get is the cached frame, or nil when there is none or it expired.
func (c *lastEvent) get(now time.Time) []byte {
	if c.frame != nil && !now.Before(c.expires) {
		c.frame = nil
	}
	return c.frame
}
