package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	ActivityTimeout time.Duration // default protocol.DefaultActivityTimeout
	PongTimeout     time.Duration // default protocol.PongTimeout
	WriteQueueBytes int           // default 1 MiB
	Logger          *slog.Logger
	Now             func() time.Time // the HTTP API's clock; default time.Now
	Telemetry       *telemetry.Telemetry

	// TLS, when set, makes the listener serve wss:// and https:// (see LoadTLS).
	TLS *tls.Config
	// ConnectionRatePerIP bounds new WebSocket connections per second from one remote address
	// (an IPv6 /64), in bursts of as many; over it the socket gets pusher:error and close 4100
	// (reconnect after backing off). 0 is no limit.
	ConnectionRatePerIP int
	// ConnectionRateExempt are remote addresses ConnectionRatePerIP does not apply to: local
	// clients, and proxies that many users connect through.
	ConnectionRateExempt []netip.Prefix
	// Apps are the per-app edge policies by app id; an app without one has none.
	Apps map[string]AppPolicy
}

// Server serves the WebSocket endpoint and the HTTP API of one node.
type Server struct {
	engine   *actors.Engine
	opts     Options
	log      *slog.Logger
	upgrader *gws.Upgrader
	http     *http.Server
	mux      *http.ServeMux
	sockets  socketSet
	limiters sync.Map // app id -> *appLimiter
	policies map[string]*appPolicy
	perIP    *rateByAddr // nil: no per-address connection rate
	draining atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
}

// New builds a Server over engine.
func New(engine *actors.Engine, opts Options) *Server {
	if opts.ActivityTimeout <= 0 {
		opts.ActivityTimeout = protocol.DefaultActivityTimeout
	}
	if opts.PongTimeout <= 0 {
		opts.PongTimeout = protocol.PongTimeout
	}
	if opts.WriteQueueBytes <= 0 {
		opts.WriteQueueBytes = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{engine: engine, opts: opts, log: opts.Logger, stop: make(chan struct{}),
		policies: map[string]*appPolicy{}, perIP: newRateByAddr(opts.ConnectionRatePerIP, opts.ConnectionRateExempt)}
	for id, p := range opts.Apps {
		s.policies[id] = newAppPolicy(p)
	}
	s.upgrader = gws.NewUpgrader(&wsHandler{server: s}, &gws.ServerOption{
		ReadMaxPayloadSize: 1 << 20, // the per-app max_message_size is checked per message
		NewSession:         func() gws.SessionStorage { return &socketSession{} },
	})
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/app/", s.serveWebSocket)
	s.routeAPI(s.mux)
	// IdleTimeout: an idle keep-alive connection of the HTTP API must not hold a descriptor forever.
	// ErrorLog: failed TLS handshakes (scanners, plain HTTP on the TLS port) are debug noise.
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug)}
	if opts.TLS != nil {
		s.http.TLSConfig = opts.TLS
	}
	return s
}

// policy is app's edge policy; an app without one gets the zero policy.
func (s *Server) policy(app *actors.App) *appPolicy {
	if p, ok := s.policies[app.ID]; ok {
		return p
	}
	return noPolicy
}

var noPolicy = newAppPolicy(AppPolicy{})

// Handler is the server's HTTP handler (WebSocket upgrades and HTTP API).
func (s *Server) Handler() http.Handler { return s.mux }

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	go s.sweepActivity()
	if s.opts.TLS != nil {
		// net/http runs each handshake on the connection's own goroutine, under the
		// ReadHeaderTimeout, so a client that stalls it holds nothing else up.
		l = tls.NewListener(l, s.opts.TLS)
	}
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, tells every client to reconnect (4200), and waits until they are
// gone or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.stopOnce.Do(func() { close(s.stop) })
	err := s.http.Shutdown(ctx)
	for _, sock := range s.sockets.all() {
		sock.Close(protocol.CodeGenericReconnect, "server shutting down")
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.sockets.len() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return err
}

// sweepActivity pings clients silent for the activity timeout and closes with 4201 those that
// do not answer within the pong timeout. One goroutine for all sockets, not a timer each.
func (s *Server) sweepActivity() {
	interval := min(s.opts.ActivityTimeout, s.opts.PongTimeout) / 4
	interval = max(interval, 50*time.Millisecond)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			n := now.UnixNano()
			for _, sock := range s.sockets.all() {
				if sent := sock.pingSent.Load(); sent != 0 {
					if time.Duration(n-sent) > s.opts.PongTimeout {
						// no queue flush: a client that does not answer may not be reading either
						sock.closeOnce(protocol.CodePongNotReceived, "Pong reply not received")
					}
					continue
				}
				if time.Duration(n-sock.lastSeen.Load()) > s.opts.ActivityTimeout {
					sock.pingSent.Store(n)
					sock.Send(protocol.PingFrame)
					sock.conn.Async(func() { _ = sock.conn.WritePing(nil) })
				}
			}
		}
	}
}

// socketSet is the node's open sockets, for the activity sweep and shutdown.
type socketSet struct {
	mu sync.Mutex
	m  map[*socket]struct{}
}

func (ss *socketSet) add(s *socket) {
	ss.mu.Lock()
	if ss.m == nil {
		ss.m = map[*socket]struct{}{}
	}
	ss.m[s] = struct{}{}
	ss.mu.Unlock()
}

func (ss *socketSet) remove(s *socket) {
	ss.mu.Lock()
	delete(ss.m, s)
	ss.mu.Unlock()
}

func (ss *socketSet) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

func (ss *socketSet) all() []*socket {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]*socket, 0, len(ss.m))
	for s := range ss.m {
		out = append(out, s)
	}
	return out
}
