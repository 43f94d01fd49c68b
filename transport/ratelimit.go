package transport

import (
	"net/netip"
	"sync"
	"time"

	"github.com/herald-io/herald/actors"
)

// appLimiter applies an app's HTTP API rates in one-second windows.
type appLimiter struct {
	app *actors.App

	mu          sync.Mutex
	window      time.Time
	events      int
	readsWindow time.Time
	reads       int
}

func (s *Server) limiter(app *actors.App) *appLimiter {
	if l, ok := s.limiters.Load(app.ID); ok {
		return l.(*appLimiter)
	}
	l, _ := s.limiters.LoadOrStore(app.ID, &appLimiter{app: app})
	return l.(*appLimiter)
}

// allowEvents admits n events unless that would pass max_backend_events_per_second.
func (l *appLimiter) allowEvents(now time.Time, n int) bool {
	limit := l.app.Limits.MaxBackendEventsPerSecond
	if limit <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Second {
		l.window, l.events = now, 0
	}
	if l.events+n > limit {
		return false
	}
	l.events += n
	return true
}

// allowRead admits one read request unless that would pass max_read_requests_per_second.
func (l *appLimiter) allowRead(now time.Time) bool {
	limit := l.app.Limits.MaxReadRequestsPerSecond
	if limit <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.readsWindow) >= time.Second {
		l.readsWindow, l.reads = now, 0
	}
	if l.reads >= limit {
		return false
	}
	l.reads++
	return true
}

// gcra admits events at a steady rate with bursts, by the generic cell rate algorithm: its whole
// state is one time, the theoretical arrival of the next event, so a limiter per socket, per app
// and per remote address costs eight bytes each.
type gcra struct {
	interval  int64 // nanoseconds between events at the steady rate
	tolerance int64 // how far ahead of now the arrival time may run: (burst-1) intervals
}

// newGCRA allows perSecond events a second, in bursts of up to perSecond; nil when perSecond is
// 0 or less (no limit).
func newGCRA(perSecond int) *gcra {
	if perSecond <= 0 {
		return nil
	}
	interval := int64(time.Second) / int64(perSecond)
	return &gcra{interval: interval, tolerance: int64(perSecond-1) * interval}
}

// allow admits one event at now, advancing *tat, or refuses it and leaves *tat alone.
func (g *gcra) allow(tat *int64, now int64) bool {
	t := max(*tat, now)
	if t-now > g.tolerance {
		return false
	}
	*tat = t + g.interval
	return true
}

// rateByAddr applies one gcra per remote address. An entry is forgotten once its address is back
// to a full burst, so the map holds only the addresses seen in about the last second and a
// flood from many addresses cannot grow it without bound.
type rateByAddr struct {
	rate   *gcra
	exempt []netip.Prefix

	mu        sync.Mutex
	tat       map[netip.Addr]int64
	lastSweep int64
}

func newRateByAddr(perSecond int, exempt []netip.Prefix) *rateByAddr {
	g := newGCRA(perSecond)
	if g == nil {
		return nil
	}
	return &rateByAddr{rate: g, exempt: exempt, tat: map[netip.Addr]int64{}}
}

// allow admits one connection from remoteAddr ("ip:port", as net/http gives it). An address it
// cannot parse is admitted: it is not from the network.
func (r *rateByAddr) allow(remoteAddr string, now time.Time) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return true
	}
	addr := ap.Addr().Unmap()
	for _, p := range r.exempt {
		if p.Contains(addr) {
			return true
		}
	}
	if addr.Is6() {
		// One IPv6 host usually holds a whole /64: limiting single addresses would limit nothing.
		addr = netip.PrefixFrom(addr, 64).Masked().Addr()
	}
	n := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	if n-r.lastSweep > int64(10*time.Second) {
		for a, t := range r.tat {
			if t <= n {
				delete(r.tat, a)
			}
		}
		r.lastSweep = n
	}
	tat := r.tat[addr]
	if !r.rate.allow(&tat, n) {
		return false
	}
	r.tat[addr] = tat
	return true
}

// rateShared is one gcra shared by all callers, for an app's connection rate.
type rateShared struct {
	rate *gcra
	mu   sync.Mutex
	tat  int64
}

func (r *rateShared) allow(now time.Time) bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rate.allow(&r.tat, now.UnixNano())
}
