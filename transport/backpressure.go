package transport

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Backpressure on publishers. herald takes an event into its grain at once and writes it out
// as fast as the sockets take it; a publisher that triggers faster than the node can write would
// otherwise fill the sockets' queues without bound, and every subscriber would see ever staler
// events. So the HTTP API watches how long the frames being written waited since their channel's
// grain took their events (the delay: the fan-outs' queues and the sockets' queues together) and, in a
// cluster, what every member reports.
//
// Above backpressure.max_delay, a trigger waits for the delay to fall, up to
// backpressure.max_wait, then is refused with 503, a JSON error and Retry-After. The event is then
// not taken: a publisher that waits as told and sends it again loses nothing. The waiting
// triggers are let in at a pace once the delay has fallen, not all at once: the delay is known
// only as frames are written, so a gate that opened for every waiting trigger at once would let
// in, each time, more than the node writes in seconds. The pace is what the node delivered while
// the triggers waited (the node was behind, so that is what it can do), a little more so that
// it climbs when there is room. While triggers wait, a new one waits behind them. For a while
// after the node was behind, the open gate too lets in no faster than that pace (after a burst of
// max_delay's worth): the refused publishers come back with their backlog at once.

// loadSignal is how far behind the node's sockets (and, in a cluster, any member's) are, and
// what the node delivered so far.
type loadSignal interface {
	delay(now time.Time) time.Duration
	// delivered: the events the fan-outs handed to sockets, their bytes (a frame's once per
	// socket), and the bytes the writers wrote; all counted since the start.
	delivered() (events, fanned, written int64)
}

// backpressurePoll is how often a waiting trigger looks at the delay again.
const backpressurePoll = 10 * time.Millisecond

// awaitCapacity returns once `events` more events may be taken, or the refusal the caller
// answers with.
func (s *Server) awaitCapacity(ctx context.Context, events int) *apiError {
	limit := s.cfg.Backpressure.MaxDelay
	if limit <= 0 {
		return nil // off
	}
	start := s.clock.Now()
	if s.look(start) <= limit && s.pace.waiting.Load() == 0 && !s.pace.recovering(start) && s.pace.open(start, events, limit) {
		s.pace.taken.Add(int64(events))
		return nil // not behind lately, and nobody waits: the common case, without a lock when not near the limit
	}
	s.pace.waiting.Add(1)
	defer s.pace.waiting.Add(-1)
	for waited := false; ; waited = true {
		now := s.clock.Now()
		d := s.look(now)
		if s.pace.allow(now, events, d, limit) {
			s.pace.taken.Add(int64(events))
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

// pacer is the rate at which waiting triggers are let in once the node is within max_delay
// (golang.org/x/time/rate, on the server's clock). Triggers sample it as they come, one of them
// every paceSample. A sample taken while the node is behind brings the pace down towards what
// the node delivered since the last one (it was behind, so that is what it can do): the events its
// fan-outs handed to sockets, scaled by how much of those bytes the writers got out meanwhile
// (the writers may be what falls behind). A sample within max_delay raises the pace by
// paceClimb, so that it finds again what the node can do once the load eases.
type pacer struct {
	waiting atomic.Int32 // triggers waiting in awaitCapacity
	due     atomic.Int64 // unix nanos (server clock) of the next sample
	// lastBehind: unix nanos (server clock) when the node was last behind. For paceHold after
	// it, triggers go through the pace although the node is within max_delay (the publishers it
	// refused come back together after their Retry-After); for surgeMemory, a surge counts.
	// taken: the events let in so far, the ones that went straight in included (see surge).
	lastBehind atomic.Int64
	taken      atomic.Int64

	mu      sync.Mutex
	lim     *rate.Limiter // the waiting triggers'
	openLim *rate.Limiter // the open gate's, within surgeMemory (see open)
	openFor int64         // the lastBehind openLim was filled for
	sampled time.Time     // when the counts below were read
	events  int64
	fanned  int64
	written int64
	taken0  int64   // taken at the last sample
	pace    float64 // events per second let in while triggers wait
}

const (
	paceSample = 200 * time.Millisecond
	// paceFloor is the least pace: a node that delivered nothing lately (its events went to
	// no socket, or another member is what is behind) still lets triggers in.
	paceFloor = 20
	// paceClimb is how much the pace rises at each sample; paceCeiling bounds it, in
	// multiples of what the node delivered over the sample. While the node is within
	// max_delay, what it delivered is what it was let in, so the pace climbs with the load;
	// once it falls behind, what it delivered is what it can do, and the pace lets in at most
	// paceCeiling times that with no delay, and no more than that with the delay at max_delay
	// (sample scales the margin by the headroom).
	paceClimb   = 1.25
	paceCeiling = 1.5
	// paceHold is how long after the node was last behind the pace still applies: longer than
	// the Retry-After of a refusal (1 s), so that the publishers refused come back to it.
	paceHold = 2 * time.Second
	// surgeMemory is how long after the node was last behind a surge still counts: a node that
	// was saturated that lately is near its limit. The publishers it refused meanwhile hold a
	// backlog (their Retry-After, their own queues), and once the node has caught up for
	// paceHold, the gate is open: the whole backlog would go in at once, faster than the
	// node delivers, and the delay shows it only once those events are written, seconds later
	// (bench/RESULTS.md section 19).
	surgeMemory = 10 * time.Second
)

// behind notes that the node was behind at now.
func (p *pacer) behind(now time.Time) {
	if at := now.UnixNano(); at > p.lastBehind.Load() {
		p.lastBehind.Store(at)
	}
}

// look reads how far behind the node is at now, samples the pace when a sample is due, and notes
// when the node is behind.
func (s *Server) look(now time.Time) time.Duration {
	d := s.load.delay(now)
	s.pace.sample(now, s.load, headroom(d, s.cfg.Backpressure.MaxDelay))
	if d > s.cfg.Backpressure.MaxDelay {
		s.pace.behind(now)
	}
	return d
}

// recovering tells whether the node was behind within paceHold of now.
func (p *pacer) recovering(now time.Time) bool {
	last := p.lastBehind.Load()
	return last != 0 && now.Before(time.Unix(0, last).Add(paceHold))
}

func newPacer() *pacer {
	return &pacer{lim: rate.NewLimiter(paceFloor, 1), pace: paceFloor}
}

// open tells whether events may go straight in through the open gate (nobody waits, the node is
// within limit, the hold is over). A node behind within surgeMemory lets in at most the pace,
// after a burst of limit's worth of it (what it delivers within max_delay): the refused
// publishers' backlog, going in at once, would otherwise take seconds to write before the delay,
// and the next sample, could show it. A trigger beyond that waits, as when the node is behind.
// Otherwise, it is always open, without a lock.
func (p *pacer) open(now time.Time, events int, limit time.Duration) bool {
	last := p.lastBehind.Load()
	if !nearLimit(now, last) {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.openFor != last { // the gate opens again after the node was behind: the burst is there
		p.openLim, p.openFor = rate.NewLimiter(rate.Limit(p.pace), p.burst(events, limit)), last
	}
	return p.take(p.openLim, now, events, limit)
}

// burst is room for one batch of events and for what the pace lets through over d.
func (p *pacer) burst(events int, d time.Duration) int { return max(events, int(p.pace*d.Seconds())+1) }

// take takes events from lim now, set to the pace with burst over d. The caller holds p.mu.
func (p *pacer) take(lim *rate.Limiter, now time.Time, events int, d time.Duration) bool {
	lim.SetLimitAt(now, rate.Limit(p.pace))
	lim.SetBurstAt(now, p.burst(events, d))
	return lim.AllowN(now, events)
}

// headroom is how much of limit the delay d leaves, from 1 (none used) to 0 (all of it).
func headroom(d, limit time.Duration) float64 {
	return min(max(1-float64(d)/float64(limit), 0), 1)
}

// sample reads what the node delivered, when a sample is due, and sets the pace from it: at most
// what it delivered, times 1 plus paceCeiling's margin scaled by the headroom the delay leaves
// (room, 0-1). A node near max_delay is let in what it delivers and no more: what it delivers
// over 200 ms swings with how many frames each write carries, and a margin taken at a good
// moment would fill the rest of the delay at once.
func (p *pacer) sample(now time.Time, load loadSignal, room float64) {
	if now.UnixNano() < p.due.Load() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.UnixNano() < p.due.Load() {
		return // another trigger sampled meanwhile
	}
	p.due.Store(now.Add(paceSample).UnixNano())
	ev, fanned, written := load.delivered()
	taken := p.taken.Load()
	if since := now.Sub(p.sampled); !p.sampled.IsZero() && since > 0 {
		if surge(now, p.lastBehind.Load(), taken-p.taken0, ev-p.events, since) {
			p.behind(now) // the triggers go through the pace again, until paceHold after this
		}
		share := 1.0 // how much of what was fanned out got written
		if f := fanned - p.fanned; f > 0 {
			share = min(2, float64(written-p.written)/float64(f))
		}
		delivered := float64(ev-p.events) / since.Seconds() * share
		ceiling := 1 + (paceCeiling-1)*room
		p.pace = min(max(p.pace, delivered)*paceClimb, delivered*ceiling+paceFloor)
	}
	p.sampled, p.events, p.fanned, p.written, p.taken0 = now, ev, fanned, written, taken
}

// nearLimit tells whether the node was behind (at lastBehind, unix nanos) within surgeMemory of now.
func nearLimit(now time.Time, lastBehind int64) bool {
	return lastBehind != 0 && now.Sub(time.Unix(0, lastBehind)) <= surgeMemory
}

// surge tells whether the events let in over a sample (in) outran those the node delivered
// (out) by more than the pace would allow, on a node that was behind within surgeMemory: the
// backlog of refused publishers going in at once.
func surge(now time.Time, lastBehind, in, out int64, since time.Duration) bool {
	return nearLimit(now, lastBehind) && float64(in) > float64(out)*paceCeiling+paceFloor*since.Seconds()
}

// allow takes events events now if the node is within limit and the pace has room for them.
func (p *pacer) allow(now time.Time, events int, delay, limit time.Duration) bool {
	if delay > limit {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.take(p.lim, now, events, backpressurePoll) // a burst of what a poll's wait lets through
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

func (l nodeLoad) delivered() (events, fanned, written int64) {
	if c, ok := l.engine.(interface{ FannedOut() (int64, int64) }); ok {
		events, fanned = c.FannedOut()
	}
	return events, fanned, l.w.written.Load()
}
