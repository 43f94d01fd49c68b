package transport

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// serveWebSocket upgrades a handshake that net/http read (the front door reads most: see
// frontDoor) and admits the socket. Refusals (unknown app, bad protocol
// version, quota) are sent the Pusher way: upgrade, pusher:error, close with the code.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	conn, err := s.upgraders.forPath(r.URL.Path).Upgrade(w, r)
	if err != nil {
		return // gws has answered the bad handshake
	}
	s.openSocket(conn, r)
}

// openSocket admits an upgraded socket, or sends it the refusal, and starts its read loop. The
// reader gets a goroutine of its own: the caller's stack grew for the handshake, and an idle
// socket would keep that stack (the GC only halves a stack at each cycle).
func (s *Server) openSocket(conn *gws.Conn, r *http.Request) {
	sock := newSocket(s, conn)
	sock.lastSeen.Store(s.clock.Now().UnixNano())
	conn.Session().Store(sessionKey, sock)
	if code, msg := s.admit(sock, r); code != 0 {
		sock.record(node.Event{Kind: node.EventError, Code: code, Message: msg, Origin: r.Header.Get("Origin")})
		s.log.Debug("connection refused", "code", code, "reason", msg, "path", r.URL.Path, "remote", r.RemoteAddr)
		sock.sendError(code, msg)
	} else {
		s.log.Debug("connection opened", "app", sock.app.ID, "socket_id", sock.actor.SocketID(), "remote", r.RemoteAddr)
		sock.app.Metrics.Connected()
		s.sockets.add(sock)
		sock.Send(protocol.ConnectionEstablishedFrame(sock.actor.SocketID(), int(s.cfg.ActivityTimeout/time.Second)))
		sock.record(node.Event{Kind: node.EventConnectionOpened, Origin: r.Header.Get("Origin")})
		// After the add: an UpdateApps that missed this socket in its sweep has its apps in place.
		if code, msg := s.revoked(sock); code != 0 {
			sock.sendError(code, msg)
		}
	}
	go conn.ReadLoop()
}

// admit checks the path, protocol version and app, and starts the connection actor.
func (s *Server) admit(sock *socket, r *http.Request) (code int, message string) {
	// First, so that a flood is refused before it costs a lookup or an actor.
	now := s.clock.Now()
	if s.perIP != nil && !s.perIP.allow(r.RemoteAddr, now) {
		return protocol.CodeOverCapacity, "Over capacity: too many new connections from your address, reconnect later"
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/app/")
	if !ok || key == "" || strings.Contains(key, "/") {
		return protocol.CodePathNotFound, "Invalid path: connect to /app/{key}"
	}
	version := r.URL.Query().Get("protocol")
	if version == "" {
		return protocol.CodeNoProtocolVersion, "No protocol version supplied"
	}
	v, err := strconv.Atoi(version)
	if err != nil {
		return protocol.CodeInvalidVersion, "Invalid version string: " + version
	}
	if v < protocol.MinSupportedProtocolVersion || v > protocol.SupportedProtocolVersion {
		return protocol.CodeUnsupportedVersion, "Unsupported protocol version: " + version
	}
	app, ok := s.engine.AppByKey(key)
	if !ok {
		return protocol.CodeAppNotFound, appNotFound(key)
	}
	sock.app = app // from here on a refusal is the app's, shown on its console
	if !app.Settings().Enabled {
		return protocol.CodeAppDisabled, appDisabled
	}
	policy := s.edges.of(app)
	if !policy.originAllowed(r.Header.Get("Origin")) {
		return protocol.CodeUnauthorized, "origin not allowed"
	}
	if policy.connects != nil && !policy.connects.AllowN(now, 1) {
		return protocol.CodeOverCapacity, "Over capacity: too many new connections to this app, reconnect later"
	}
	conn, err := s.engine.Connect(app, sock)
	if errors.Is(err, actors.ErrOverQuota) {
		return protocol.CodeOverConnectionQuota, "Over connection quota"
	}
	if err != nil {
		return protocol.CodeOverCapacity, err.Error()
	}
	// The app's own copy of the key: key is a piece of the request line, which it would keep.
	sock.actor, sock.key = conn, app.Settings().Key
	return 0, ""
}

const sessionKey = "s"

// socketSession is gws session storage holding just our socket: gws's default is a map per
// connection, more than one pointer needs.
type socketSession struct{ s *socket }

func (ss *socketSession) Len() int {
	if ss.s == nil {
		return 0
	}
	return 1
}
func (ss *socketSession) Load(string) (any, bool) { return ss.s, ss.s != nil }
func (ss *socketSession) Delete(string)           { ss.s = nil }
func (ss *socketSession) Store(_ string, v any)   { ss.s, _ = v.(*socket) }
func (ss *socketSession) Range(f func(string, any) bool) {
	if ss.s != nil {
		f(sessionKey, ss.s)
	}
}

func socketOf(c *gws.Conn) *socket {
	v, _ := c.Session().Load(sessionKey)
	s, _ := v.(*socket)
	return s
}

// wsHandler receives gws events for every socket.
type wsHandler struct{ server *Server }

func (h *wsHandler) OnOpen(*gws.Conn) {}

// The read loop hands each event to a handler (inbound.go) and waits; handle runs it there. A
// refused socket (no actor) has nothing to undo at its close.
func (h *wsHandler) OnClose(c *gws.Conn, err error) {
	if s := socketOf(c); s != nil && s.actor != nil {
		h.server.inbound.put(inboundItem{s: s, closed: true, err: err})
	}
}

func (h *wsHandler) handle(it inboundItem) {
	switch {
	case it.msg != nil:
		h.message(it.s, it.msg)
	case it.closed:
		h.closed(it.s, it.err)
	default:
		it.s.enqueue(it.pong, time.Time{}) // in order with the socket's frames
	}
}

func (h *wsHandler) closed(s *socket, err error) {
	s.gone()
	h.server.sockets.remove(s)
	s.actor.Closed()
	code, reason := int(s.closeCode.Load()), ""
	if code == 0 {
		code = 1006 // no close frame
		var ce *gws.CloseError
		if errors.As(err, &ce) {
			code, reason = int(ce.Code), string(ce.Reason)
		}
	} else if r := s.closeReason.Load(); r != nil {
		reason = *r
	}
	s.app.Metrics.Disconnected(code)
	s.record(node.Event{Kind: node.EventConnectionClosed, Code: code, Message: reason})
	h.server.log.Debug("connection closed", "app", s.app.ID, "socket_id", s.actor.SocketID(), "code", code)
}

// OnPing answers a WebSocket ping. Pings and pongs are not activity: only whole messages are.
// Control frames may come between the fragments of a message, so a client that started a
// message and never finishes it, while it keeps pinging, would otherwise hold its buffer
// forever; as it is, it gets pusher:ping after activity_timeout, cannot answer in the middle of
// its message, and is closed pong_timeout later.
func (h *wsHandler) OnPing(c *gws.Conn, payload []byte) {
	if s := socketOf(c); s != nil {
		// Framed here: the pong is a copy, and gws reuses payload once this returns.
		h.server.inbound.put(inboundItem{s: s, pong: wireFrame(opPong, payload)})
	}
}

// OnPong: see OnPing.
func (h *wsHandler) OnPong(*gws.Conn, []byte) {}

func (h *wsHandler) OnMessage(c *gws.Conn, msg *gws.Message) {
	s := socketOf(c)
	if s == nil || s.actor == nil {
		msg.Close()
		return
	}
	h.server.inbound.put(inboundItem{s: s, msg: msg})
}

func (h *wsHandler) message(s *socket, msg *gws.Message) {
	defer msg.Close()
	s.seen()
	s.app.Metrics.AddBytesIn(msg.Data.Len())
	if msg.Opcode != gws.OpcodeText {
		s.protocolError(0, "Binary frames are not supported")
		return
	}
	f, err := protocol.DecodeFrame(msg.Bytes())
	if err != nil {
		s.protocolError(0, err.Error())
		return
	}
	h.dispatch(s, f)
}

// dispatch turns a client frame into a typed message for the connection actor.
func (h *wsHandler) dispatch(s *socket, f protocol.Frame) {
	s.app.Metrics.AddMessagesIn(messageKind(f.Event), 1)
	switch {
	case f.Event == protocol.EventPing:
		s.Send(protocol.PongFrame)
	case f.Event == protocol.EventPong:
		// a reply to our ping; seen() already counted it
	case f.Event == protocol.EventSubscribe:
		var d protocol.SubscribeData
		if err := protocol.DecodeData(f.Data, &d); err != nil {
			s.protocolError(0, err.Error())
			return
		}
		s.actor.Subscribe(d.Channel, d.Auth, d.ChannelData)
	case f.Event == protocol.EventUnsubscribe:
		var d protocol.SubscribeData
		if err := protocol.DecodeData(f.Data, &d); err != nil {
			s.protocolError(0, err.Error())
			return
		}
		s.actor.Unsubscribe(d.Channel)
	case f.Event == protocol.EventSignin:
		var d protocol.SigninData
		if err := protocol.DecodeData(f.Data, &d); err != nil {
			s.protocolError(protocol.CodeUnauthorized, err.Error())
			return
		}
		s.actor.Signin(d.Auth, d.UserData)
	case protocol.IsClientEvent(f.Event):
		s.actor.ClientEvent(f.Event, f.Channel, f.Data)
	default:
		s.protocolError(0, "Unsupported event received on socket: "+f.Event)
	}
}

func messageKind(event string) telemetry.MessageKind {
	switch event {
	case protocol.EventPing, protocol.EventPong:
		return telemetry.KindPing
	case protocol.EventSubscribe:
		return telemetry.KindSubscribe
	case protocol.EventUnsubscribe:
		return telemetry.KindUnsubscribe
	case protocol.EventSignin:
		return telemetry.KindSignin
	}
	if protocol.IsClientEvent(event) {
		return telemetry.KindClientEvent
	}
	return telemetry.KindOther
}
