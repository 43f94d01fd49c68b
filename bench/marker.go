package bench

import (
	"bytes"
	"math/bits"
	"strconv"
	"strings"
)

// An event's data carries a marker, {"bseq":N,"bts":UNIX_NANO,"pad":"xxx"}, from which a
// receiver learns the sequence number (to count losses and duplicates) and the send time (for
// latency). Servers re-encode data (as a JSON string inside the frame, or as an object for
// client events), so receivers find the numbers by scanning for the keys rather than decoding.
var (
	markerSeqKey = []byte("bseq")
	markerTSKey  = []byte("bts")
)

// appendMarker appends the marker JSON, padded with 'x' to size bytes when that is larger than
// the marker itself.
func appendMarker(dst []byte, seq uint64, tsNanos int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"bseq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"bts":`...)
	dst = strconv.AppendInt(dst, tsNanos, 10)
	dst = append(dst, `,"pad":"`...)
	if pad := size - (len(dst) - start) - 2; pad > 0 {
		dst = append(dst, strings.Repeat("x", pad)...)
	}
	return append(dst, `"}`...)
}

// parseMarker finds the marker's sequence number and send time in a frame.
func parseMarker(frame []byte) (seq uint64, tsNanos int64, ok bool) {
	s, ok1 := numberAfter(frame, markerSeqKey)
	ts, ok2 := numberAfter(frame, markerTSKey)
	return s, int64(ts), ok1 && ok2
}

// numberAfter reads the first run of digits after the first occurrence of key.
func numberAfter(b, key []byte) (uint64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	j := 0
	for j < len(b) && j < 8 && (b[j] < '0' || b[j] > '9') {
		j++
	}
	var n uint64
	start := j
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + uint64(b[j]-'0')
	}
	return n, j > start
}

// frameEvent returns the "event" of a raw frame without decoding it: the first `"event":"...`
// at the top level (inside a double-encoded data string every quote is escaped, so it cannot
// match there). It returns nil when there is none.
func frameEvent(frame []byte) []byte {
	i := bytes.Index(frame, []byte(`"event"`))
	if i < 0 {
		return nil
	}
	b := frame[i+len(`"event"`):]
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != ':' {
		return nil
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	if len(b) == 0 || b[0] != '"' {
		return nil
	}
	b = b[1:]
	end := bytes.IndexByte(b, '"')
	if end < 0 {
		return nil
	}
	return b[:end]
}

// seqSet records which sequence numbers (from 1) arrived, counting duplicates and arrivals
// below an already-seen number (reordering). It is not safe for concurrent use.
type seqSet struct {
	bits       []uint64
	unique     int64
	dups       int64
	reordered  int64
	maxSeen    uint64
	outOfRange int64
}

// maxSeq bounds the numbers a seqSet tracks (1M events), so a corrupted number cannot make it
// allocate without limit.
const maxSeq = 1 << 20

// add records seq and reports whether it was new.
func (s *seqSet) add(seq uint64) bool {
	if seq == 0 || seq > maxSeq {
		s.outOfRange++
		return false
	}
	w := int(seq / 64)
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w-len(s.bits)+1+len(s.bits)/2)...)
	}
	m := uint64(1) << (seq % 64)
	if s.bits[w]&m != 0 {
		s.dups++
		return false
	}
	s.bits[w] |= m
	s.unique++
	if seq < s.maxSeen {
		s.reordered++
	}
	s.maxSeen = max(s.maxSeen, seq)
	return true
}

func (s *seqSet) has(seq uint64) bool {
	w := int(seq / 64)
	return w < len(s.bits) && s.bits[w]&(uint64(1)<<(seq%64)) != 0
}

// intersect counts the numbers present in both s and o.
func (s *seqSet) intersect(o *seqSet) int64 {
	var n int
	for i := range min(len(s.bits), len(o.bits)) {
		n += bits.OnesCount64(s.bits[i] & o.bits[i])
	}
	return int64(n)
}
