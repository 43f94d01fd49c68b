package transport

import (
	"strings"
)

// AppPolicy is what the transport enforces for one app at its edge, on top of the limits the
// actors apply. The zero value enforces nothing.
type AppPolicy struct {
	// AllowedOrigins are the browser origins whose pages may open sockets, such as
	// "https://example.com" or "https://*.example.com" (any subdomain); "*" or an empty list
	// allows any. A socket from another origin is refused with pusher:error and close 4009.
	AllowedOrigins []string
	// MaxConnectionsPerSecond bounds new sockets of the app on this node, in bursts of as many;
	// over it: close 4100. 0 is no limit.
	MaxConnectionsPerSecond int
	// MaxSubscribesPerSecond bounds pusher:subscribe per socket, in bursts of as many; over it
	// the subscribe gets pusher:subscription_error LimitReached with status 429. 0 is no limit.
	MaxSubscribesPerSecond int
}

// appPolicy is an AppPolicy ready to apply.
type appPolicy struct {
	origins     []string // lower-cased; nil allows any
	connectRate *rateShared
	subscribe   *gcra // nil: no limit
}

func newAppPolicy(p AppPolicy) *appPolicy {
	ap := &appPolicy{subscribe: newGCRA(p.MaxSubscribesPerSecond)}
	if g := newGCRA(p.MaxConnectionsPerSecond); g != nil {
		ap.connectRate = &rateShared{rate: g}
	}
	for _, o := range p.AllowedOrigins {
		o = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
		if o == "*" {
			ap.origins = nil
			break
		}
		if o != "" {
			ap.origins = append(ap.origins, o)
		}
	}
	return ap
}

// originAllowed reports whether a handshake with this Origin header may proceed. A handshake
// without one is allowed: browsers always send it, and it is a browser protection only, since
// any other client can claim whatever origin it likes.
func (p *appPolicy) originAllowed(origin string) bool {
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
