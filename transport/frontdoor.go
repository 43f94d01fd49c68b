package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// frontDoor accepts a plain listener's connections ahead of net/http. A Pusher client's
// WebSocket handshake (`GET /app/...`) is read and upgraded on the connection's first goroutine:
// no net/http connection state, response writer or hijack. Connect is what a reconnect storm costs,
// so this is hot path and hand-written. Every other connection (the HTTP API, health checks,
// handshakes on other paths) goes on to the http.Server with the bytes read so far, and net/http
// serves it as before.
//
// A TLS listener does not use it: net/http only knows a connection for TLS when it is the
// *tls.Conn itself, and the TLS handshake costs far more than what the front door saves.
type frontDoor struct {
	net.Listener // the real one
	server       *Server
	handoff      chan accepted // connections (and accept errors) for net/http's Accept
	done         chan struct{}
	closeOnce    sync.Once
}

type accepted struct {
	conn net.Conn
	err  error
}

// webSocketPrefix starts every Pusher client handshake; the front door reads no more than this
// of any other connection before handing it on.
var webSocketPrefix = []byte("GET /app/")

// maxHandshakeBytes caps a handshake's request line and headers, as net/http's default
// MaxHeaderBytes does for the requests it reads.
const maxHandshakeBytes = http.DefaultMaxHeaderBytes

func newFrontDoor(s *Server, l net.Listener) *frontDoor {
	return &frontDoor{Listener: l, server: s, handoff: make(chan accepted), done: make(chan struct{})}
}

// run accepts until the listener closes. An accept error goes to net/http, which decides: it
// retries a temporary one (out of descriptors) after a pause and returns on any other.
func (d *frontDoor) run() {
	for {
		c, err := d.Listener.Accept()
		if err != nil {
			select {
			case d.handoff <- accepted{err: err}:
			case <-d.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go d.serve(c)
	}
}

// Accept is net/http's: the connections that are not Pusher handshakes.
func (d *frontDoor) Accept() (net.Conn, error) {
	select {
	case a := <-d.handoff:
		return a.conn, a.err
	case <-d.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting (net/http calls it on Shutdown and when Serve returns).
func (d *frontDoor) Close() error {
	d.closeOnce.Do(func() { close(d.done) })
	return d.Listener.Close()
}

// serve reads the start of c's first request: a Pusher handshake is upgraded here, anything
// else goes to net/http.
func (d *frontDoor) serve(c net.Conn) {
	s := d.server
	// The handshake must arrive within read_timeout, as net/http's ReadHeaderTimeout asks of a
	// request. Deadlines are on the real clock: they are the kernel's, not a protocol timer.
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	hb := handshakeBuffers.Get().(*handshakeBuffer)
	head, br := &hb.head, hb.br
	*head = handshakeReader{conn: c, left: maxHandshakeBytes}
	br.Reset(head)
	start, err := br.Peek(len(webSocketPrefix))
	if !bytes.Equal(start, webSocketPrefix) {
		if len(start) == 0 && err != nil { // gone or silent before a byte: nothing to answer
			hb.release()
			_ = c.Close()
			return
		}
		d.handOn(&peekedConn{Conn: c, br: br}) // keeps the buffer: net/http reads it first
		return
	}
	r, err := http.ReadRequest(br)
	if err != nil {
		tooLarge := head.exceeded
		hb.release()
		switch {
		case tooLarge:
			refuse(c, http.StatusRequestHeaderFieldsTooLarge, "request header too large")
		case !isTimeout(err) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
			refuse(c, http.StatusBadRequest, "malformed request")
		default:
			_ = c.Close()
		}
		return
	}
	head.left = -1 // the handshake is read: from here on the reader carries WebSocket frames
	if br.Buffered() == 0 && r.Body == http.NoBody {
		// Nothing past the handshake yet (a client waits for the 101): the handshake's buffer
		// goes back, and the socket reads the connection itself through a small buffer of its
		// own, one call shallower on every read of its life.
		hb.release()
		br = bufio.NewReaderSize(c, readBufferSize)
	} // else the socket keeps the handshake's buffer, which holds its first frames
	_ = c.SetReadDeadline(time.Time{})
	r.RemoteAddr = c.RemoteAddr().String()
	if s.draining.Load() {
		refuse(c, http.StatusServiceUnavailable, "shutting down")
		return
	}
	// UpgradeFromConn answers a bad handshake with 400 and closes c, as Upgrade does.
	conn, err := s.upgraders.forPath(r.URL.Path).UpgradeFromConn(c, br, r)
	if err != nil {
		return
	}
	s.openSocket(conn, r)
}

// handOn gives c to net/http, or closes it when the server is closing.
func (d *frontDoor) handOn(c net.Conn) {
	select {
	case d.handoff <- accepted{conn: c}:
	case <-d.done:
		_ = c.Close()
	}
}

// handshakeBufferSize is the buffer a handshake is read through, net/http's own: a browser's
// headers (cookies) often pass 1 KB, and each refill is a system call.
const handshakeBufferSize = 4 << 10

// handshakeBuffer reads a handshake. Pooled: a socket keeps it only when its first frames
// arrived with the handshake, and reads through readBufferSize afterwards.
type handshakeBuffer struct {
	head handshakeReader
	br   *bufio.Reader // reads head
}

var handshakeBuffers = sync.Pool{New: func() any {
	return &handshakeBuffer{br: bufio.NewReaderSize(nil, handshakeBufferSize)}
}}

// release returns the buffer to the pool; nothing may read it afterwards.
func (hb *handshakeBuffer) release() {
	hb.br.Reset(nil)
	hb.head = handshakeReader{}
	handshakeBuffers.Put(hb)
}

// handshakeReader is what the handshake's buffer reads from: the connection, with a cap on the
// handshake's size while left >= 0.
type handshakeReader struct {
	conn     net.Conn
	left     int // bytes the handshake may still take; -1 once it is read
	exceeded bool
}

func (h *handshakeReader) Read(p []byte) (int, error) {
	if h.left < 0 {
		return h.conn.Read(p)
	}
	if h.left == 0 {
		h.exceeded = true
		return 0, errHandshakeTooLarge
	}
	if len(p) > h.left {
		p = p[:h.left]
	}
	n, err := h.conn.Read(p)
	h.left -= n
	return n, err
}

var errHandshakeTooLarge = errors.New("handshake larger than the header limit")

// peekedConn is a connection handed on to net/http: its reads first return what the front door
// already read.
type peekedConn struct {
	net.Conn
	br *bufio.Reader // nil once drained
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// refuse answers a request the front door read itself, and closes the connection the way
// net/http does: it stops writing, then reads what the client still sends for a moment before
// the close, so that the kernel does not reset the connection (and drop the answer) over
// unread bytes.
func refuse(c net.Conn, status int, body string) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	text := http.StatusText(status)
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + text + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)+1) + "\r\n\r\n" + body + "\n")
	_, _ = c.Write(b.Bytes())
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(lingerAfterRefusal))
		_, _ = io.CopyN(io.Discard, c, lingerBytes)
	}
	_ = c.Close()
}

// lingerAfterRefusal and lingerBytes bound what refuse reads after its answer (net/http waits
// 500 ms too).
const (
	lingerAfterRefusal = 500 * time.Millisecond
	lingerBytes        = 256 << 10
)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
