package transport

import (
	"context"
	"net/http"
	"time"
)

// Backpressure on publishers. herald takes an event into its grain at once and writes it out
// as fast as the sockets take it; a publisher that triggers faster than the node can write would
// otherwise fill the sockets' queues without bound, and every subscriber would see ever staler
// events. So the HTTP API watches how long the frames being written waited in their queues (the
// writers' delay) and, in a cluster, what every member reports: above backpressure.max_delay,
// a trigger waits for the delay to fall, up to backpressure.max_wait, then is refused with 503, a
// JSON error and Retry-After. The event is then not taken: a publisher that waits as told and
// sends it again loses nothing. Events that were taken wait at most about max_delay.

// loadSignal is how far behind the node's sockets (and, in a cluster, any member's) are.
type loadSignal interface {
	delay(now time.Time) time.Duration
}

// backpressurePoll is how often a waiting trigger looks at the delay again.
const backpressurePoll = 10 * time.Millisecond

// awaitCapacity returns once the delay is within backpressure.max_delay, or the refusal the
// caller answers with.
func (s *Server) awaitCapacity(ctx context.Context) *apiError {
	limit := s.cfg.Backpressure.MaxDelay
	if limit <= 0 {
		return nil // off
	}
	start := s.clock.Now()
	for waited := false; ; waited = true {
		now := s.clock.Now()
		if d := s.load.delay(now); d <= limit {
			if waited {
				s.tel.Metrics().AddBackpressure(false)
			}
			return nil
		} else if now.Sub(start) >= s.cfg.Backpressure.MaxWait {
			s.tel.Metrics().AddBackpressure(true)
			return &apiError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
				message: "overloaded: herald's sockets are " + d.Round(time.Millisecond).String() +
					" behind; the event was not taken, send it again after Retry-After"}
		}
		select {
		case <-ctx.Done():
			s.tel.Metrics().AddBackpressure(true)
			return errorf(http.StatusServiceUnavailable, "overloaded, and the request ended while it waited")
		case <-s.clock.After(backpressurePoll):
		}
	}
}

// nodeLoad is the delay of this node's writers, and of the other members when the engine knows it.
type nodeLoad struct {
	w      *writers
	engine Engine
}

func (l nodeLoad) delay(now time.Time) time.Duration {
	d := l.w.delay.current(now)
	if c, ok := l.engine.(interface{ MembersDelay() time.Duration }); ok {
		d = max(d, c.MembersDelay())
	}
	return d
}
