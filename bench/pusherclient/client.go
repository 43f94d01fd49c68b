package pusherclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// DefaultQueueSize is how many received messages a Client holds for Next before its reader waits.
const DefaultQueueSize = 1024

// Options tune a Client. The zero value is what Dial uses.
type Options struct {
	// OnRaw, when set, is called in the reader goroutine with every frame received after
	// connection_established, before it is parsed. raw is only valid during the call. Returning
	// true consumes the frame: no Message is made, no waiter or OnMessage sees it and a
	// pusher:ping is not answered; returning false handles it as usual. The bench uses it to
	// count high-rate frames without a JSON decode or a copy each.
	OnRaw func(raw []byte, received time.Time) bool
	// OnMessage, when set, is called in the reader goroutine with every message, in order, and
	// no queue is kept: Next returns ErrCallbackMode, while Expect, Subscribe and Signin still
	// work (they see the messages that arrive after they are called). It must not block for long,
	// as it holds up this client's reads. The bench uses it to avoid a queue per client.
	OnMessage func(Message)
	// QueueSize bounds the messages held for Next; 0 means DefaultQueueSize. When it is full the
	// reader waits for Next, so nothing is lost and back-pressure reaches the server.
	QueueSize int
	// Header is added to the WebSocket handshake request.
	Header http.Header
	// NoAutoPong stops the client answering pusher:ping with pusher:pong, to test the server's
	// pong timeout.
	NoAutoPong bool
	// HandshakeTimeout bounds the WebSocket handshake when ctx has no deadline; 0 means 10 s.
	HandshakeTimeout time.Duration
}

// Client is one Pusher connection. Its methods are safe for concurrent use, but messages are
// read by one consumer: Next and Expect calls should not overlap.
type Client struct {
	conn *gws.Conn
	opts Options

	queue *queue // nil when opts.OnMessage takes the messages

	established     Message
	socketID        string
	activityTimeout int
	estab           chan struct{} // closed when connection_established has been read

	stop     chan struct{} // closed by Close: releases a reader waiting for queue space
	stopOnce sync.Once
	closing  atomic.Bool
	done     chan struct{} // closed when the reader has ended; closeErr is set before
	closeErr error

	inCallback atomic.Bool

	waitMu  sync.Mutex
	waiters map[*waiter]struct{}
	nwait   atomic.Int32
}

type waiter struct {
	match func(Message) bool
	got   chan Message // capacity 1
}

// Dial connects to a Pusher WebSocket endpoint, such as
// ws://127.0.0.1:6001/app/app-key?protocol=7&client=go&version=0.1, and waits for
// pusher:connection_established (which Next does not return again; see Established). If the
// server closes the connection first, as it does for an unknown app key, the error is a
// *CloseError with the server's close code.
func Dial(ctx context.Context, wsURL string) (*Client, error) {
	return DialOptions(ctx, wsURL, Options{})
}

// DialOptions is Dial with options.
func DialOptions(ctx context.Context, wsURL string, opts Options) (*Client, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
		if timeout <= 0 {
			return nil, fmt.Errorf("pusherclient: dial %s: %w", wsURL, context.DeadlineExceeded)
		}
	}
	c := &Client{
		opts:    opts,
		estab:   make(chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		waiters: make(map[*waiter]struct{}),
	}
	if opts.OnMessage == nil {
		c.queue = newQueue(opts.QueueSize)
	}
	d := &ctxDialer{ctx: ctx}
	conn, resp, err := gws.NewClient((*handler)(c), &gws.ClientOption{
		Addr:             wsURL,
		RequestHeader:    opts.Header.Clone(),
		HandshakeTimeout: timeout,
		NewDialer:        func() (gws.Dialer, error) { return d, nil },
	})
	d.release()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("pusherclient: dial %s: HTTP %d: %w", wsURL, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("pusherclient: dial %s: %w", wsURL, err)
	}
	c.conn = conn
	go conn.ReadLoop()
	select {
	case <-c.estab:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("pusherclient: dial %s: %w", wsURL, c.closeErr)
	case <-ctx.Done():
		_ = c.Close()
		return nil, fmt.Errorf("pusherclient: dial %s: waiting for connection_established: %w", wsURL, ctx.Err())
	}
}

// ctxDialer dials with ctx and closes the connection if ctx ends before the handshake is over,
// since gws's handshake itself takes no context.
type ctxDialer struct {
	ctx  context.Context
	mu   sync.Mutex
	stop func() bool
}

func (d *ctxDialer) Dial(network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.stop = context.AfterFunc(d.ctx, func() { _ = conn.Close() })
	d.mu.Unlock()
	return conn, nil
}

// release ends the watch on ctx once the handshake is over.
func (d *ctxDialer) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stop != nil {
		d.stop()
	}
}

func (c *Client) isEstablished() bool {
	select {
	case <-c.estab:
		return true
	default:
		return false
	}
}

// SocketID is the socket_id the server assigned.
func (c *Client) SocketID() string { return c.socketID }

// ActivityTimeout is the activity_timeout, in seconds, the server announced.
func (c *Client) ActivityTimeout() int { return c.activityTimeout }

// Established is the pusher:connection_established frame Dial consumed.
func (c *Client) Established() Message { return c.established }

// Done is closed once the connection has ended, by Close or by the server.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (ErrClosed after Close, else a *CloseError), or nil while it
// is open.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.closeErr
	default:
		return nil
	}
}

// Send JSON-encodes frame and writes it as a text frame.
func (c *Client) Send(frame any) error {
	b, err := json.Marshal(frame)
	if err != nil {
		return fmt.Errorf("pusherclient: encode frame: %w", err)
	}
	return c.SendRaw(b)
}

// SendRaw writes b as one text frame, as it is: tests use it to send malformed frames.
func (c *Client) SendRaw(b []byte) error {
	if err := c.conn.WriteMessage(gws.OpcodeText, b); err != nil {
		if c.closing.Load() {
			return ErrClosed
		}
		return fmt.Errorf("pusherclient: write: %w", err)
	}
	return nil
}

// Next returns the next message received, in order. Once the connection has ended and every
// queued message has been returned, it returns ErrClosed after Close or a *CloseError. It
// returns ctx's error when ctx ends first, and ErrCallbackMode when Options.OnMessage is set.
func (c *Client) Next(ctx context.Context) (Message, error) {
	if c.queue == nil {
		return Message{}, ErrCallbackMode
	}
	for {
		if m, ok := c.queue.pop(); ok {
			return m, nil
		}
		select {
		case <-c.queue.ready:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		case <-c.done:
			// The reader queues everything before it ends, so what is left is all there is.
			if m, ok := c.queue.pop(); ok {
				return m, nil
			}
			return Message{}, c.closeErr
		}
	}
}

// Expect returns the first message for which match is true, discarding the others before it.
// With Options.OnMessage set it sees only messages that arrive after the call.
func (c *Client) Expect(ctx context.Context, match func(Message) bool) (Message, error) {
	return c.sendExpect(ctx, nil, match)
}

// sendExpect sends frame (when not nil) and waits for a matching message. In callback mode the
// waiter is registered before sending so the answer cannot slip past it.
func (c *Client) sendExpect(ctx context.Context, frame any, match func(Message) bool) (Message, error) {
	if err := ctx.Err(); err != nil {
		return Message{}, err // ended already: nothing is sent
	}
	if c.queue != nil {
		if frame != nil {
			if err := c.Send(frame); err != nil {
				return Message{}, err
			}
		}
		for {
			m, err := c.Next(ctx)
			if err != nil {
				return Message{}, err
			}
			if match(m) {
				return m, nil
			}
		}
	}
	w := &waiter{match: match, got: make(chan Message, 1)}
	c.waitMu.Lock()
	c.waiters[w] = struct{}{}
	c.nwait.Add(1)
	c.waitMu.Unlock()
	defer c.removeWaiter(w)
	if frame != nil {
		if err := c.Send(frame); err != nil {
			return Message{}, err
		}
	}
	select {
	case m := <-w.got:
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	case <-c.done:
		select {
		case m := <-w.got:
			return m, nil
		default:
			return Message{}, c.closeErr
		}
	}
}

func (c *Client) removeWaiter(w *waiter) {
	c.waitMu.Lock()
	if _, ok := c.waiters[w]; ok {
		delete(c.waiters, w)
		c.nwait.Add(-1)
	}
	c.waitMu.Unlock()
}

// Subscribe sends pusher:subscribe and waits for the answer: the
// pusher_internal:subscription_succeeded message (whose data holds the presence roster on
// presence channels), or a *SubscriptionError for pusher:subscription_error, or a *PusherError
// if a pusher:error arrives first; with an error, the message returned is the error frame.
// auth and channelData may be empty; App.ChannelAuth and App.PresenceAuth make them. Other
// messages received meanwhile are discarded, as Expect does.
func (c *Client) Subscribe(ctx context.Context, channel, auth, channelData string) (Message, error) {
	frame := subscribeFrame{Event: EventSubscribe, Data: subscribeData{Channel: channel, Auth: auth, ChannelData: channelData}}
	m, err := c.sendExpect(ctx, frame, func(m Message) bool {
		switch m.Event {
		case EventSubscriptionSucceeded, EventSubscriptionError:
			return m.Channel == channel
		case EventError:
			return true
		}
		return false
	})
	if err != nil {
		return Message{}, err
	}
	if err := asError(m); err != nil {
		return m, err
	}
	return m, nil
}

// Unsubscribe sends pusher:unsubscribe; the protocol has no answer to wait for.
func (c *Client) Unsubscribe(channel string) error {
	return c.Send(subscribeFrame{Event: EventUnsubscribe, Data: subscribeData{Channel: channel}})
}

// Signin sends pusher:signin with user_data and its auth (see App.UserAuth) and waits for
// pusher:signin_success, or returns a *PusherError (and the frame) for a pusher:error.
func (c *Client) Signin(ctx context.Context, auth, userData string) (Message, error) {
	frame := signinFrame{Event: EventSignin}
	frame.Data.Auth, frame.Data.UserData = auth, userData
	m, err := c.sendExpect(ctx, frame, func(m Message) bool {
		return m.Event == EventSigninSuccess || m.Event == EventError
	})
	if err != nil {
		return Message{}, err
	}
	if err := asError(m); err != nil {
		return m, err
	}
	return m, nil
}

// SendClientEvent triggers a client event (event should start with "client-") on a channel this
// client is subscribed to. data is JSON-encoded as the frame's data, as pusher-js sends it.
func (c *Client) SendClientEvent(channel, event string, data any) error {
	return c.Send(struct {
		Event   string `json:"event"`
		Channel string `json:"channel"`
		Data    any    `json:"data"`
	}{event, channel, data})
}

// Close sends a normal close frame, closes the connection and waits for the reader to stop,
// unless an OnMessage call is running (so that OnMessage itself may call Close). Messages
// already queued stay readable with Next. It is safe to call more than once and after the
// server has closed the connection; it always returns nil.
func (c *Client) Close() error {
	c.stopOnce.Do(func() {
		c.closing.Store(true)
		close(c.stop)
		_ = c.conn.WriteClose(1000, nil)
	})
	if !c.inCallback.Load() {
		<-c.done
	}
	return nil
}

// handler is the gws event handler; a distinct type keeps its methods out of Client's API.
type handler Client

func (h *handler) OnOpen(*gws.Conn) {}

func (h *handler) OnPing(socket *gws.Conn, payload []byte) { _ = socket.WritePong(payload) }

func (h *handler) OnPong(*gws.Conn, []byte) {}

func (h *handler) OnMessage(socket *gws.Conn, msg *gws.Message) {
	received := time.Now()
	c := (*Client)(h)
	if c.opts.OnRaw != nil && c.isEstablished() {
		c.inCallback.Store(true)
		consumed := c.opts.OnRaw(msg.Bytes(), received)
		c.inCallback.Store(false)
		if consumed {
			_ = msg.Close()
			return
		}
	}
	raw := append([]byte(nil), msg.Bytes()...)
	_ = msg.Close()
	m := parseMessage(raw, received)

	select {
	case <-c.estab:
	default:
		if m.Event == EventConnectionEstablished {
			var data struct {
				SocketID        string `json:"socket_id"`
				ActivityTimeout int    `json:"activity_timeout"`
			}
			_ = m.Decode(&data)
			c.established, c.socketID, c.activityTimeout = m, data.SocketID, data.ActivityTimeout
			close(c.estab)
			return
		}
	}

	if m.Event == EventPing && !c.opts.NoAutoPong {
		_ = socket.WriteMessage(gws.OpcodeText, pongFrame)
	}
	if c.nwait.Load() > 0 {
		c.waitMu.Lock()
		for w := range c.waiters {
			if w.match(m) {
				w.got <- m
				delete(c.waiters, w)
				c.nwait.Add(-1)
			}
		}
		c.waitMu.Unlock()
	}
	if c.queue != nil {
		c.queue.push(m, c.stop)
		return
	}
	c.inCallback.Store(true)
	defer c.inCallback.Store(false)
	c.opts.OnMessage(m)
}

func (h *handler) OnClose(_ *gws.Conn, err error) {
	c := (*Client)(h)
	var ce *gws.CloseError
	switch {
	case c.closing.Load():
		c.closeErr = ErrClosed
	case errors.As(err, &ce):
		code := int(ce.Code)
		if code == 0 {
			code = 1005 // RFC 6455: no status code was present
		}
		c.closeErr = &CloseError{Code: code, Reason: string(ce.Reason)}
	default:
		c.closeErr = &CloseError{Code: 1006, Reason: err.Error()}
	}
	close(c.done)
}
