package transport

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/herald-io/herald/actors"
)

// Rate limits at the edge, all on golang.org/x/time/rate token buckets (the connection actor
// uses the same for its per-socket rates): a limit of n a second allows bursts of n.

// apiLimits are an app's HTTP API rates: backend events and read requests per second.
type apiLimits struct {
	mu     sync.Mutex
	limits map[string]*appAPILimit // app id -> its limiters
}

type appAPILimit struct {
	events, reads *rate.Limiter // nil: no limit
	eventsN       int           // the settings they were made with
	readsN        int
}

func perSecond(n int) *rate.Limiter {
	if n <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(n), n)
}

func (a *apiLimits) of(app *actors.App) *appAPILimit {
	l := app.Settings().Limits
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.limits == nil {
		a.limits = map[string]*appAPILimit{}
	}
	cur := a.limits[app.ID]
	if cur == nil || cur.eventsN != l.MaxBackendEventsPerSecond || cur.readsN != l.MaxReadRequestsPerSecond {
		cur = &appAPILimit{
			events: perSecond(l.MaxBackendEventsPerSecond), eventsN: l.MaxBackendEventsPerSecond,
			reads: perSecond(l.MaxReadRequestsPerSecond), readsN: l.MaxReadRequestsPerSecond,
		}
		a.limits[app.ID] = cur
	}
	return cur
}

// allowEvents admits a trigger of n deliveries, all or none.
func (l *appAPILimit) allowEvents(now time.Time, n int) bool {
	return l.events == nil || l.events.AllowN(now, n)
}

// allowRead admits one read request.
func (l *appAPILimit) allowRead(now time.Time) bool {
	return l.reads == nil || l.reads.AllowN(now, 1)
}

// rateByAddr applies one limiter per remote address. An entry is forgotten once its address is
// back to a full burst, so the map holds only the addresses seen lately and a flood from many
// addresses cannot grow it without bound.
type rateByAddr struct {
	perSecond int
	exempt    []netip.Prefix

	mu        sync.Mutex
	limiters  map[netip.Addr]*rate.Limiter
	lastSweep time.Time
}

func newRateByAddr(perSecond int, exempt []netip.Prefix) *rateByAddr {
	if perSecond <= 0 {
		return nil
	}
	return &rateByAddr{perSecond: perSecond, exempt: exempt, limiters: map[netip.Addr]*rate.Limiter{}}
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
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) > 10*time.Second {
		for a, l := range r.limiters {
			if l.TokensAt(now) >= float64(r.perSecond) {
				delete(r.limiters, a)
			}
		}
		r.lastSweep = now
	}
	l := r.limiters[addr]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(r.perSecond), r.perSecond)
		r.limiters[addr] = l
	}
	return l.AllowN(now, 1)
}
