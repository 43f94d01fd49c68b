package transport

import (
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
