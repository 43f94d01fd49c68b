package transport

import "encoding/binary"

// WebSocket framing of what the server sends (RFC 6455 5.2): a server's frames are not masked,
// so a frame's bytes are the same for every socket and an event is framed once for all of them.

const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
	finBit  = 0x80
)

// wireFrame frames payload as one final frame with opcode op: the header, then the payload.
func wireFrame(op byte, payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n < 126:
		b = make([]byte, 2, 2+n)
		b[1] = byte(n)
	case n <= 0xFFFF:
		b = make([]byte, 4, 4+n)
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b = make([]byte, 10, 10+n)
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	b[0] = finBit | op
	return append(b, payload...)
}

// wireText is a text frame: every Pusher frame.
func wireText(payload []byte) []byte { return wireFrame(opText, payload) }

// wireClose is a close frame with a code and a reason (at most 123 bytes, as control frames carry
// at most 125).
func wireClose(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return wireFrame(opClose, append(p, reason...))
}

// wirePing is the WebSocket ping the activity sweep sends beside pusher:ping.
var wirePing = wireFrame(opPing, nil)
