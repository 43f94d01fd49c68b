package transport

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestWireFrame checks the framing against RFC 6455 5.2, byte by byte, at each length encoding's
// edges.
func TestWireFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xFFFF, 0x10000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		b := wireText(payload)
		if b[0] != 0x81 {
			t.Fatalf("%d bytes: first byte %#x, want FIN + text", n, b[0])
		}
		var header int
		switch {
		case n < 126:
			header = 2
			if int(b[1]) != n {
				t.Fatalf("%d bytes: length byte %d", n, b[1])
			}
		case n <= 0xFFFF:
			header = 4
			if b[1] != 126 || int(binary.BigEndian.Uint16(b[2:])) != n {
				t.Fatalf("%d bytes: 16-bit length %v", n, b[:4])
			}
		default:
			header = 10
			if b[1] != 127 || int(binary.BigEndian.Uint64(b[2:])) != n {
				t.Fatalf("%d bytes: 64-bit length %v", n, b[:10])
			}
		}
		if b[1]&0x80 != 0 {
			t.Fatalf("%d bytes: a server frame must not be masked", n)
		}
		if !bytes.Equal(b[header:], payload) {
			t.Fatalf("%d bytes: payload not carried as is", n)
		}
	}
	c := wireClose(4100, "slow")
	if !bytes.Equal(c, []byte{0x88, 6, 0x10, 0x04, 's', 'l', 'o', 'w'}) {
		t.Fatalf("close frame %v", c)
	}
	if long := wireClose(1000, string(bytes.Repeat([]byte{'r'}, 200))); int(long[1]) != 125 {
		t.Fatalf("a close frame's payload is at most 125 bytes, got %d", long[1])
	}
}
