package transport_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/configs"
)

// TestFrontDoor: the front door reads WebSocket handshakes itself and hands every other
// connection on to net/http; what it reads itself is bounded in time and size, and a bad
// handshake gets the answer net/http would give.
func TestFrontDoor(t *testing.T) {
	app := newApp("1")
	const readTimeout = 300 * time.Millisecond
	ws, httpBase, _, _ := startServerWith(t, testOpts{config: func(c *configs.Config) { c.ReadTimeout = readTimeout }}, app)
	host := strings.TrimPrefix(httpBase, "http://")
	handshake := "GET /app/" + app.Key + "?protocol=7 HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

	t.Run("handshake upgraded", func(t *testing.T) {
		conn, br := dialTCP(t, host)
		_, _ = io.WriteString(conn, handshake+"\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake: %d, want 101", res.StatusCode)
		}
		if got := res.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
			t.Fatalf("Sec-WebSocket-Accept %q", got)
		}
		// pusher:connection_established, unmasked text frame from the server.
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(br, hdr); err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, hdr[1]&0x7f)
		if int(hdr[1]&0x7f) == 126 {
			ext := make([]byte, 2)
			_, _ = io.ReadFull(br, ext)
			payload = make([]byte, int(ext[0])<<8|int(ext[1]))
		}
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		if hdr[0] != 0x81 || !strings.Contains(string(payload), "pusher:connection_established") {
			t.Fatalf("first frame %x %q", hdr, payload)
		}
	})
	t.Run("a real client connects", func(t *testing.T) {
		c := dial(t, ws, app)
		subscribePublic(t, c, "news")
	})
	t.Run("handshake never finished", func(t *testing.T) {
		conn, br := dialTCP(t, host)
		_, _ = io.WriteString(conn, "GET /app/"+app.Key+"?protocol=7 HTTP/1.1\r\nHost: "+host+"\r\n")
		start := time.Now()
		_, _ = io.ReadAll(br) // the server closes it after read_timeout, answering nothing
		if waited := time.Since(start); waited >= waitTimeout {
			t.Fatalf("the connection stayed open %v", waited)
		}
	})
	t.Run("silent connection", func(t *testing.T) {
		_, br := dialTCP(t, host)
		if n, _ := io.Copy(io.Discard, br); n != 0 {
			t.Fatalf("a connection that sent nothing got %d bytes", n)
		}
	})
	t.Run("malformed handshake", func(t *testing.T) {
		conn, br := dialTCP(t, host)
		_, _ = io.WriteString(conn, handshake+"no colon in this line\r\n\r\n")
		if got := responseStatus(t, br); got != http.StatusBadRequest {
			t.Fatalf("malformed handshake: %d, want 400", got)
		}
	})
	t.Run("handshake over the header limit", func(t *testing.T) {
		conn, br := dialTCP(t, host)
		go func() {
			_, _ = io.WriteString(conn, handshake)
			line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
			for sent := 0; sent < http.DefaultMaxHeaderBytes+64<<10; sent += len(line) {
				if _, err := io.WriteString(conn, line); err != nil {
					return // the server answered and closed
				}
			}
		}()
		if got := responseStatus(t, br); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("oversized handshake: %d, want 431", got)
		}
	})
	t.Run("not a handshake, pipelined on one connection", func(t *testing.T) {
		// Both requests in one write: the front door's buffer holds the second one's start when
		// it hands the connection to net/http, which must still read it.
		conn, br := dialTCP(t, host)
		get := "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		_, _ = io.WriteString(conn, get+get)
		for i := range 2 {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok":true`) {
				t.Fatalf("request %d: %d %s", i, res.StatusCode, body)
			}
		}
	})
	t.Run("plain GET on a handshake path", func(t *testing.T) {
		conn, br := dialTCP(t, host)
		_, _ = io.WriteString(conn, "GET /app/"+app.Key+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
		if got := responseStatus(t, br); got != http.StatusBadRequest {
			t.Fatalf("GET without Upgrade: %d, want 400", got)
		}
	})
}
