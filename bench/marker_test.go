package bench

import (
	"encoding/json"
	"testing"

	"github.com/herald-io/herald/protocol"
)

func TestMarkerRoundTrip(t *testing.T) {
	for _, size := range []int{0, 10, 64, 1024} {
		data := appendMarker(nil, 12345, 1700000000123456789, size)
		if size > 60 && len(data) != size {
			t.Fatalf("size %d: marker is %d bytes", size, len(data))
		}
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("marker not JSON: %s", data)
		}
		frames := map[string][]byte{
			"double encoded": protocol.AppendEvent(nil, "bench", "c", string(data), ""),
			"raw object":     protocol.AppendEventRawData(nil, "client-bench", "private-c", data, "u1"),
		}
		for name, f := range frames {
			seq, ts, ok := parseMarker(f)
			if !ok || seq != 12345 || ts != 1700000000123456789 {
				t.Fatalf("%s: %d %d %v from %s", name, seq, ts, ok, f)
			}
			if string(frameEvent(f)) != map[string]string{"double encoded": "bench", "raw object": "client-bench"}[name] {
				t.Fatalf("%s: event %q", name, frameEvent(f))
			}
		}
	}
	if _, _, ok := parseMarker([]byte(`{"event":"x","data":"{}"}`)); ok {
		t.Fatal("marker found in a frame without one")
	}
	if _, _, ok := parseMarker([]byte(`{"bseq":,"bts":1}`)); ok {
		t.Fatal("empty number accepted")
	}
}

func TestFrameEvent(t *testing.T) {
	cases := map[string]string{
		`{"event":"pusher:ping","data":"{}"}`:                       "pusher:ping",
		`{ "event" : "a" }`:                                         "a",
		`{"channel":"c","data":"{\"event\":\"x\"}","event":"real"}`: "real",
		`{"data":"x"}`:                                              "",
		`{"event":1}`:                                               "",
		`{"event":"unclosed`:                                        "",
		`not json, "event"`:                                         "",
		`{"event":   "spaced"}`:                                     "spaced",
	}
	for in, want := range cases {
		if got := string(frameEvent([]byte(in))); got != want {
			t.Errorf("frameEvent(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestSeqSet(t *testing.T) {
	var s, ok seqSet
	for _, n := range []uint64{1, 2, 5, 3, 3, 200, 0, maxSeq + 1} {
		s.add(n)
	}
	if s.unique != 5 || s.dups != 1 || s.reordered != 1 || s.outOfRange != 2 || s.maxSeen != 200 {
		t.Fatalf("%+v", s)
	}
	if !s.has(200) || s.has(4) || s.has(1<<30) {
		t.Fatal("has")
	}
	for n := uint64(1); n <= 4; n++ {
		ok.add(n)
	}
	if got := s.intersect(&ok); got != 3 {
		t.Fatalf("intersect = %d", got)
	}
}

func TestRosterIDs(t *testing.T) {
	frame := protocol.AppendEvent(nil, protocol.EventSubscriptionSucceeded, "presence-x",
		`{"presence":{"ids":["3","17","0"],"hash":{"3":{"name":"m3"},"17":null,"0":{}},"count":3}}`, "")
	var got []uint64
	rosterIDs(frame, func(n uint64) { got = append(got, n) })
	if len(got) != 3 || got[0] != 3 || got[1] != 17 || got[2] != 0 {
		t.Fatalf("ids %v from %s", got, frame)
	}
	var v viewSet
	for _, n := range got {
		v.add(n)
	}
	v.add(17)
	v.remove(3)
	v.remove(99)
	if v.n != 2 {
		t.Fatalf("view size %d", v.n)
	}
}
