package transport

import (
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/configs"
)

// edgePolicy is what the transport enforces for one app at its edge, before a socket reaches
// the actors: which browser origins may connect, and how many new sockets a second. It is made
// from the app's settings and made again when they change.
type edgePolicy struct {
	settings *configs.App  // the settings it was made from
	origins  []string      // lower-cased; nil allows any
	connects *rate.Limiter // nil: no limit
}

func newEdgePolicy(settings *configs.App) *edgePolicy {
	p := &edgePolicy{settings: settings}
	if n := settings.Limits.MaxConnectionsPerSecond; n > 0 {
		p.connects = rate.NewLimiter(rate.Limit(n), n)
	}
	for _, o := range settings.AllowedOrigins {
		o = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
		if o == "*" {
			p.origins = nil
			break
		}
		if o != "" {
			p.origins = append(p.origins, o)
		}
	}
	return p
}

// edgePolicies keeps one edgePolicy per app id.
type edgePolicies struct{ m sync.Map } // app id -> *edgePolicy

func (e *edgePolicies) of(app *actors.App) *edgePolicy {
	settings := app.Settings()
	if v, ok := e.m.Load(app.ID); ok && v.(*edgePolicy).settings == settings {
		return v.(*edgePolicy)
	}
	p := newEdgePolicy(settings)
	e.m.Store(app.ID, p)
	return p
}

// originAllowed reports whether a handshake with this Origin header may proceed. A handshake
// without one is allowed: browsers always send it, and it is a browser protection only, since
// any other client can claim whatever origin it likes.
func (p *edgePolicy) originAllowed(origin string) bool {
	if len(p.origins) == 0 || origin == "" {
		return true
	}
	origin = strings.ToLower(origin)
	for _, pattern := range p.origins {
		if pattern == origin {
			return true
		}
		scheme, host, ok := strings.Cut(pattern, "://*.")
		if !ok {
			continue
		}
		rest, ok := strings.CutPrefix(origin, scheme+"://")
		if ok && len(rest) > len(host)+1 && strings.HasSuffix(rest, "."+host) && !strings.ContainsAny(rest, "/@") {
			return true
		}
	}
	return false
}
