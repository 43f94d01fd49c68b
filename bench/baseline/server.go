// Package baseline is the bench's physical-limit reference: the least Go + gws server that can
// serve every bench scenario. It accepts /app/{key}, sends connection_established, answers
// pusher:subscribe (with a roster on presence channels, and member_added / member_removed to the
// others), pusher:ping, client events, POST /apps/{id}/events and batch_events, and the presence
// roster at GET /apps/{id}/channels/{name}/users (for the rooms scenario's check), encoding each
// event once and writing it to each subscriber with one synchronous write (in parallel chunks on
// big channels). It checks no signature and enforces no Pusher rule: whatever a real server does
// beyond this is the cost of being a real server. Its one concession to correctness is order:
// every socket gets a channel's frames in one order (presence channels: the channel's order,
// through gws's per-socket write queues).
package baseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-io/herald/protocol"
)

// maxBody bounds an HTTP API request body.
const maxBody = 1 << 20

// Server is the baseline server. Its zero value is not usable; call New.
type Server struct {
	upgrader *gws.Upgrader
	http     *http.Server
	nextID   atomic.Uint64

	mu       sync.RWMutex
	channels map[string]*channel

	connsMu sync.Mutex
	conns   map[*conn]struct{}
}

type channel struct {
	name string
	mu   sync.RWMutex
	subs map[*conn]string // -> presence user id ("" elsewhere)
	// snapshot is subs as a slice for broadcasts, rebuilt after a change (nil until then).
	snapshot []*conn
	version  uint64 // counts changes of subs
	// presence only: members by user id, and the roster's ids and hash parts pre-encoded as
	// they appear inside the double-encoded subscription_succeeded data.
	members   map[string]*member
	rosterIDs []byte
	rosterMap []byte
}

type member struct {
	info  json.RawMessage
	conns int
}

type conn struct {
	socket *gws.Conn
	id     string
	mu     sync.Mutex
	subs   map[string]*channel
}

// New returns a server ready to Serve.
func New() *Server {
	s := &Server{channels: map[string]*channel{}, conns: map[*conn]struct{}{}}
	s.upgrader = gws.NewUpgrader((*events)(s), &gws.ServerOption{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/{key}", s.serveWS)
	mux.HandleFunc("POST /apps/{id}/events", s.serveEvents)
	mux.HandleFunc("POST /apps/{id}/batch_events", s.serveBatch)
	mux.HandleFunc("GET /apps/{id}/channels/{name}/users", s.serveUsers)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "OK") })
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops listening and closes every WebSocket.
func (s *Server) Close() error {
	err := s.http.Close() // hijacked connections are not closed by this
	s.connsMu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.connsMu.Unlock()
	for _, c := range conns {
		_ = c.socket.NetConn().Close()
	}
	return err
}

// Shutdown stops accepting and waits for HTTP requests to end, within ctx.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	socket, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	c := &conn{socket: socket, subs: map[string]*channel{}}
	c.id = strconv.FormatUint(s.nextID.Add(1), 10) + "." + strconv.Itoa(int(time.Now().UnixNano()%1000000))
	socket.Session().Store("c", c)
	s.connsMu.Lock()
	s.conns[c] = struct{}{}
	s.connsMu.Unlock()
	_ = socket.WriteMessage(gws.OpcodeText, protocol.ConnectionEstablishedFrame(c.id, 120))
	go socket.ReadLoop()
}

func (s *Server) channel(name string, create bool) *channel {
	s.mu.RLock()
	ch := s.channels[name]
	s.mu.RUnlock()
	if ch != nil || !create {
		return ch
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch = s.channels[name]; ch == nil {
		ch = &channel{name: name, subs: map[*conn]string{}}
		if strings.HasPrefix(name, "presence-") {
			ch.members = map[string]*member{}
		}
		s.channels[name] = ch
	}
	return ch
}

// broadcast writes frame to every subscriber of ch but except. Call with ch.mu held: presence
// frames are written under the lock so that every member sees rosters and member_added /
// member_removed in one order.
func (ch *channel) broadcast(frame []byte, except *conn) {
	if ch.members != nil {
		broadcastAsync(ch.conns(), frame, func(c *conn) bool { return c == except })
		return
	}
	writeAll(ch.conns(), frame, func(c *conn) bool { return c == except })
}

// broadcastAsync queues frame on each socket's gws write queue (gws's Broadcaster: the frame is
// built once). Presence channels use it for all their frames: a join must not wait for the
// member_added writes to thousands of sockets while it holds the channel, and the sockets'
// FIFO queues keep each one's frames in the channel's order.
func broadcastAsync(conns []*conn, frame []byte, skip func(*conn) bool) {
	b := gws.NewBroadcaster(gws.OpcodeText, frame)
	for _, c := range conns {
		if !skip(c) {
			_ = b.Broadcast(c.socket)
		}
	}
	_ = b.Close()
}

// conns is the subscribers as a slice; call with ch.mu held (for reading at least).
func (ch *channel) conns() []*conn {
	if ch.snapshot != nil {
		return ch.snapshot
	}
	conns := make([]*conn, 0, len(ch.subs))
	for c := range ch.subs {
		conns = append(conns, c)
	}
	return conns
}

// broadcastExceptID writes frame to every subscriber but socketID (HTTP triggers).
func (ch *channel) broadcastExceptID(frame []byte, socketID string) {
	ch.mu.RLock()
	conns := ch.snapshot
	if conns == nil {
		conns = ch.conns()
		version := ch.version
		ch.mu.RUnlock()
		ch.mu.Lock()
		if ch.version == version {
			ch.snapshot = conns
		}
		ch.mu.Unlock()
	} else {
		ch.mu.RUnlock()
	}
	skip := func(c *conn) bool { return socketID != "" && c.id == socketID }
	if ch.members != nil {
		broadcastAsync(conns, frame, skip)
		return
	}
	writeAll(conns, frame, skip)
}

// writeAll writes frame to conns (but those skip names) in parallel chunks of synchronous
// writes: one write system call per delivery and no goroutine or queue per socket, which is as
// cheap as a delivery gets. Every frame of a public or private channel goes out this way or by a
// direct write, so a socket's frames of that channel keep their order. (A subscriber that stops
// reading would hold up its chunk; the bench's subscribers read.)
func writeAll(conns []*conn, frame []byte, skip func(*conn) bool) {
	write := func(part []*conn) {
		for _, c := range part {
			if !skip(c) {
				_ = c.socket.WriteMessage(gws.OpcodeText, frame)
			}
		}
	}
	const chunk = 512
	if len(conns) <= chunk {
		write(conns)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < len(conns); i += chunk {
		part := conns[i:min(i+chunk, len(conns))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			write(part)
		}()
	}
	wg.Wait()
}

func (s *Server) subscribe(c *conn, sd protocol.SubscribeData) {
	if sd.Channel == "" {
		_ = c.socket.WriteMessage(gws.OpcodeText, protocol.SubscriptionErrorFrame("", protocol.SubscriptionErrorInvalid, "no channel", 400))
		return
	}
	c.mu.Lock()
	_, already := c.subs[sd.Channel]
	c.mu.Unlock()
	if already {
		return
	}
	ch := s.channel(sd.Channel, true)
	userID := ""
	var info json.RawMessage
	if ch.members != nil {
		pd, err := protocol.ParsePresenceChannelData(sd.ChannelData)
		if err != nil {
			_ = c.socket.WriteMessage(gws.OpcodeText, protocol.SubscriptionErrorFrame(sd.Channel, protocol.SubscriptionErrorInvalid, err.Error(), 400))
			return
		}
		userID, info = pd.UserID, pd.UserInfo
	}
	c.mu.Lock()
	c.subs[sd.Channel] = ch
	c.mu.Unlock()

	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.subs[c] = userID
	ch.snapshot = nil
	ch.version++
	if ch.members == nil {
		_ = c.socket.WriteMessage(gws.OpcodeText, protocol.AppendEvent(nil, protocol.EventSubscriptionSucceeded, ch.name, "{}", ""))
		return
	}
	m := ch.members[userID]
	if m == nil {
		m = &member{info: info}
		ch.members[userID] = m
		ch.appendMember(userID, info)
		data := append([]byte(`{"user_id":`), protocol.AppendJSONString(nil, userID)...)
		if len(info) > 0 {
			data = append(append(data, `,"user_info":`...), info...)
		}
		data = append(data, '}')
		ch.broadcast(protocol.AppendEvent(nil, protocol.EventMemberAdded, ch.name, string(data), ""), c)
	}
	m.conns++
	c.socket.WriteAsync(gws.OpcodeText, ch.rosterFrame(), nil)
}

// appendMember adds one member to the pre-encoded roster parts.
func (ch *channel) appendMember(userID string, info json.RawMessage) {
	id := protocol.AppendJSONString(nil, userID)
	if len(ch.rosterIDs) > 0 {
		ch.rosterIDs = append(ch.rosterIDs, ',')
		ch.rosterMap = append(ch.rosterMap, ',')
	}
	ch.rosterIDs = protocol.AppendJSONEscaped(ch.rosterIDs, string(id))
	ch.rosterMap = protocol.AppendJSONEscaped(ch.rosterMap, string(id))
	ch.rosterMap = append(ch.rosterMap, ':')
	if len(info) == 0 {
		info = json.RawMessage("null")
	}
	ch.rosterMap = protocol.AppendJSONEscaped(ch.rosterMap, string(info))
}

func (ch *channel) rosterFrame() []byte {
	f := make([]byte, 0, 128+len(ch.rosterIDs)+len(ch.rosterMap))
	f = append(f, `{"event":"`+protocol.EventSubscriptionSucceeded+`","channel":`...)
	f = protocol.AppendJSONString(f, ch.name)
	f = append(f, `,"data":"{\"presence\":{\"ids\":[`...)
	f = append(f, ch.rosterIDs...)
	f = append(f, `],\"hash\":{`...)
	f = append(f, ch.rosterMap...)
	f = append(f, `},\"count\":`...)
	f = strconv.AppendInt(f, int64(len(ch.members)), 10)
	return append(f, `}}"}`...)
}

func (s *Server) unsubscribe(c *conn, name string) {
	c.mu.Lock()
	ch := c.subs[name]
	delete(c.subs, name)
	c.mu.Unlock()
	if ch == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	userID, ok := ch.subs[c]
	if !ok {
		return
	}
	delete(ch.subs, c)
	ch.snapshot = nil
	ch.version++
	if ch.members == nil {
		return
	}
	m := ch.members[userID]
	if m == nil {
		return
	}
	if m.conns--; m.conns > 0 {
		return
	}
	delete(ch.members, userID)
	ch.rosterIDs, ch.rosterMap = ch.rosterIDs[:0], ch.rosterMap[:0]
	for id, m := range ch.members {
		ch.appendMember(id, m.info)
	}
	data := append([]byte(`{"user_id":`), protocol.AppendJSONString(nil, userID)...)
	data = append(data, '}')
	ch.broadcast(protocol.AppendEvent(nil, protocol.EventMemberRemoved, ch.name, string(data), ""), nil)
}

func (s *Server) clientEvent(c *conn, f protocol.Frame) {
	c.mu.Lock()
	ch := c.subs[f.Channel]
	c.mu.Unlock()
	if ch == nil {
		return
	}
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	ch.broadcast(protocol.AppendEventRawData(nil, f.Event, f.Channel, f.Data, ch.subs[c]), c)
}

type triggerBody struct {
	Name     string   `json:"name"`
	Channel  string   `json:"channel"`
	Channels []string `json:"channels"`
	Data     string   `json:"data"`
	SocketID string   `json:"socket_id"`
}

func (s *Server) trigger(ev triggerBody) {
	chans := ev.Channels
	if ev.Channel != "" {
		chans = append(chans, ev.Channel)
	}
	for _, name := range chans {
		if ch := s.channel(name, false); ch != nil {
			ch.broadcastExceptID(protocol.AppendEvent(nil, ev.Name, name, ev.Data, ""), ev.SocketID)
		}
	}
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	var ev triggerBody
	if !decodeBody(w, r, &ev) {
		return
	}
	s.trigger(ev)
	writeJSON(w, http.StatusOK, "{}")
}

func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Batch []triggerBody `json:"batch"`
	}
	if !decodeBody(w, r, &b) {
		return
	}
	for _, ev := range b.Batch {
		s.trigger(ev)
	}
	writeJSON(w, http.StatusOK, "{}")
}

// serveUsers lists a presence channel's members, as the HTTP API does.
func (s *Server) serveUsers(w http.ResponseWriter, r *http.Request) {
	ch := s.channel(r.PathValue("name"), false)
	if ch == nil || ch.members == nil {
		if !strings.HasPrefix(r.PathValue("name"), "presence-") {
			writeJSON(w, http.StatusBadRequest, `{"error":"not a presence channel"}`)
			return
		}
		writeJSON(w, http.StatusOK, `{"users":[]}`)
		return
	}
	ch.mu.RLock()
	b := []byte(`{"users":[`)
	first := true
	for id := range ch.members {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(append(append(b, `{"id":`...), protocol.AppendJSONString(nil, id)...), '}')
	}
	ch.mu.RUnlock()
	writeJSON(w, http.StatusOK, string(append(b, "]}"...)))
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, `{"error":`+string(protocol.AppendJSONString(nil, err.Error()))+`}`)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// events is the gws handler; a distinct type keeps its methods off Server's API.
type events Server

func (e *events) OnOpen(*gws.Conn) {}

func (e *events) OnPing(socket *gws.Conn, payload []byte) { _ = socket.WritePong(payload) }

func (e *events) OnPong(*gws.Conn, []byte) {}

func (e *events) OnClose(socket *gws.Conn, _ error) {
	c := connOf(socket)
	if c == nil {
		return
	}
	e.connsMu.Lock()
	delete(e.conns, c)
	e.connsMu.Unlock()
	c.mu.Lock()
	names := make([]string, 0, len(c.subs))
	for name := range c.subs {
		names = append(names, name)
	}
	c.mu.Unlock()
	for _, name := range names {
		(*Server)(e).unsubscribe(c, name)
	}
}

func (e *events) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	s, c := (*Server)(e), connOf(socket)
	f, err := protocol.DecodeFrame(msg.Bytes())
	if err != nil || c == nil {
		_ = socket.WriteMessage(gws.OpcodeText, protocol.ErrorFrame(0, fmt.Sprint(err)))
		return
	}
	switch {
	case f.Event == protocol.EventPing:
		_ = socket.WriteMessage(gws.OpcodeText, protocol.PongFrame)
	case f.Event == protocol.EventSubscribe:
		var sd protocol.SubscribeData
		if err := protocol.DecodeData(f.Data, &sd); err != nil {
			_ = socket.WriteMessage(gws.OpcodeText, protocol.ErrorFrame(0, err.Error()))
			return
		}
		s.subscribe(c, sd)
	case f.Event == protocol.EventUnsubscribe:
		var sd protocol.SubscribeData
		if protocol.DecodeData(f.Data, &sd) == nil {
			s.unsubscribe(c, sd.Channel)
		}
	case protocol.IsClientEvent(f.Event):
		s.clientEvent(c, f)
	}
}

func connOf(socket *gws.Conn) *conn {
	v, ok := socket.Session().Load("c")
	if !ok {
		return nil
	}
	c, _ := v.(*conn)
	return c
}
