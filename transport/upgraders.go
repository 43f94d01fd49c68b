package transport

import (
	"strings"
	"sync"

	"github.com/lxzan/gws"
)

// refusedPayloadCap caps what a socket refused at connect (unknown key, bad path) may send
// before it is closed: nothing it says is read.
const refusedPayloadCap = 4 << 10

// readBufferSize is a socket's read buffer (gws's default is 4 KB), held for the socket's life,
// idle or not. Most of what a Pusher client sends (pings, subscribes, small client events) fits
// in one read of it; a longer message takes one more read, straight into the message's buffer.
const readBufferSize = 256

// upgraders keeps one gws upgrader per message size cap, so that each socket is read with its
// app's max_message_size as gws's payload cap: a frame announcing more, or a fragmented message
// growing past it, is refused (close 1009) before it is buffered, not after. gws takes the cap
// per upgrader, hence one per distinct app limit.
type upgraders struct {
	server  *Server
	handler gws.Event
	mu      sync.Mutex
	bySize  map[int]*gws.Upgrader
}

func newUpgraders(s *Server, handler *wsHandler) *upgraders {
	return &upgraders{server: s, handler: handler, bySize: map[int]*gws.Upgrader{}}
}

// forPath is the upgrader for a handshake on path /app/{key}: the app's cap, or the refusal cap
// when the path names no app (admit then refuses the socket).
func (u *upgraders) forPath(path string) *gws.Upgrader {
	size := refusedPayloadCap
	if key, ok := strings.CutPrefix(path, "/app/"); ok {
		if app, ok := u.server.engine.AppByKey(key); ok {
			size = app.Settings().Limits.MaxMessageSize
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if up, ok := u.bySize[size]; ok {
		return up
	}
	up := gws.NewUpgrader(u.handler, &gws.ServerOption{
		ReadMaxPayloadSize: size,
		// The handshakes net/http reads (TLS) come here; the front door's pass their own.
		ReadBufferSize: readBufferSize,
		// RFC 6455: a text message that is not UTF-8 fails the connection (close 1007), so
		// no socket relays bytes a browser would refuse.
		CheckUtf8Enabled: true,
		NewSession:       func() gws.SessionStorage { return &socketSession{} },
	})
	u.bySize[size] = up
	return up
}
