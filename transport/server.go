package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// Engine is what the transport needs of the actors: apps, admitting a socket, publishing, and
// the channel queries of the HTTP API. *actors.Engine implements it.
type Engine interface {
	AppByKey(key string) (*actors.App, bool)
	AppByID(id string) (*actors.App, bool)
	Connect(app *actors.App, sink actors.Sink) (*actors.Connection, error)
	Publish(ctx context.Context, app *actors.App, ev actors.Event) error
	PublishToUser(app *actors.App, userID string, ev actors.Event)
	TerminateUser(app *actors.App, userID string)
	ChannelInfo(ctx context.Context, app *actors.App, channel string, withUsers bool) (*actors.ChannelInfo, error)
	Channels(ctx context.Context, app *actors.App, prefix string) ([]string, error)
	UpdateApps(apps []configs.App)
}

// Deps are what a Server uses besides its config. Zero fields: no logging, no telemetry, the
// real clock, plain ws:// and http://.
type Deps struct {
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
	Clock     clockwork.Clock
	// TLS, when set, makes the listener serve wss:// and https:// (see LoadTLS).
	TLS *tls.Config
}

// Server serves the WebSocket endpoint and the HTTP API of one node.
type Server struct {
	engine    Engine
	cfg       *configs.Config
	log       *slog.Logger
	tel       *telemetry.Telemetry
	clock     clockwork.Clock
	tls       *tls.Config
	upgraders *upgraders
	inbound   *inbound
	writers   *writers
	load      loadSignal
	pace      *pacer
	http      *http.Server
	mux       *http.ServeMux
	sockets   socketSet
	edges     edgePolicies
	rates     apiLimits
	perIP     *rateByAddr // nil: no per-address connection rate
	tap       *node.Tap   // the debug console's; nil records nothing
	draining  atomic.Bool
	stop      chan struct{}
	stopOnce  sync.Once
}

// New builds a Server over engine with the listener settings of cfg.
func New(engine Engine, cfg *configs.Config, deps Deps) (*Server, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	exempt, err := cfg.ExemptPrefixes()
	if err != nil {
		return nil, err
	}
	s := &Server{
		engine: engine, cfg: cfg, log: deps.Logger, tel: deps.Telemetry, clock: deps.Clock, tls: deps.TLS,
		stop: make(chan struct{}), perIP: newRateByAddr(cfg.ConnectionRatePerIP, exempt),
	}
	if e, ok := engine.(interface{ Tap() *node.Tap }); ok { // *actors.Engine: record into its tap
		s.tap = e.Tap()
	}
	handler := &wsHandler{server: s}
	s.upgraders = newUpgraders(s, handler)
	s.inbound = newInbound(handler)
	s.writers = newWriters()
	s.load = nodeLoad{w: s.writers, engine: engine}
	s.pace = newPacer()
	writeDelay := func() time.Duration { return s.writers.delay.current(time.Now()) }
	s.tel.Metrics().ObserveWriteDelay(writeDelay)
	if e, ok := engine.(interface{ ReportDelay(func() time.Duration) }); ok { // *actors.Engine, in a cluster: gossip it
		e.ReportDelay(writeDelay)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/app/", s.serveWebSocket)
	s.routeAPI(s.mux)
	// IdleTimeout: an idle keep-alive connection of the HTTP API must not hold a descriptor forever.
	// ErrorLog: failed TLS handshakes (scanners, plain HTTP on the TLS port) are debug noise.
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: cfg.ReadTimeout, IdleTimeout: cfg.IdleTimeout,
		ErrorLog: slog.NewLogLogger(deps.Logger.Handler(), slog.LevelDebug)}
	if deps.TLS != nil {
		s.http.TLSConfig = deps.TLS
	}
	return s, nil
}

// Sockets is the number of sockets the server holds open, and the most it held at once since
// the last call.
func (s *Server) Sockets() (now, peak int) { return s.sockets.takePeak() }

// Handler is the server's HTTP handler (WebSocket upgrades and HTTP API).
func (s *Server) Handler() http.Handler { return s.mux }

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	go s.sweepActivity()
	if s.tls != nil {
		// net/http runs each handshake on the connection's own goroutine, under the
		// ReadHeaderTimeout, so a client that stalls it holds nothing else up.
		l = tls.NewListener(l, s.tls)
	} else {
		front := newFrontDoor(s, l)
		go front.run()
		l = front
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
	defer s.writers.close()
	defer s.inbound.close() // after the sockets' closes were handled, or ctx ended
	// The listener closes at once; API calls in flight finish meanwhile. The sockets are told to
	// reconnect at the same time, not after them: a client that stalls its request body must
	// not hold every socket's 4200 up until read_timeout.
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.http.Shutdown(ctx) }()
	for _, sock := range s.sockets.all() {
		sock.Close(protocol.CodeGenericReconnect, "server shutting down")
	}
	// Polled on the real clock: it waits for sockets to close, not for a protocol timer.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.sockets.len() > 0 {
		select {
		case <-ctx.Done():
			for _, sock := range s.sockets.all() { // out of time: drop the stragglers
				_ = sock.conn.NetConn().Close()
			}
			_ = s.http.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
	err := <-httpDone
	if err != nil {
		_ = s.http.Close() // out of time: drop the API calls still open
	}
	return err
}

// socketSet is the node's open sockets, for the activity sweep and shutdown.
type socketSet struct {
	mu   sync.Mutex
	m    map[*socket]struct{}
	peak int // the most sockets at once since the last takePeak
}

func (ss *socketSet) add(s *socket) {
	ss.mu.Lock()
	if ss.m == nil {
		ss.m = map[*socket]struct{}{}
	}
	ss.m[s] = struct{}{}
	ss.peak = max(ss.peak, len(ss.m))
	ss.mu.Unlock()
}

// takePeak returns the sockets open now and the peak since the last call, and starts a new peak.
func (ss *socketSet) takePeak() (now, peak int) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now, peak = len(ss.m), ss.peak
	ss.peak = now
	return now, peak
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
