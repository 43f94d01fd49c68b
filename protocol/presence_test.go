package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestAppendPresenceSucceeded(t *testing.T) {
	members := []PresenceMember{
		NewPresenceMember("1", json.RawMessage(`{"name":"Ann \"A\""}`)),
		NewPresenceMember(`u"2\`, nil),
		NewPresenceMember("é\u2028", json.RawMessage(`[1,2]`)),
	}
	var ids, hash [][]byte
	for _, m := range members {
		ids = append(ids, m.EscapedID)
		hash = append(hash, m.EscapedEntry)
	}
	frame := AppendPresenceSucceeded(nil, "presence-room", bytes.Join(ids, []byte(",")), bytes.Join(hash, []byte(",")), len(members))
	f, data := decodeServerFrame(t, frame)
	if f.Event != EventSubscriptionSucceeded || f.Channel != "presence-room" {
		t.Fatalf("frame %s", frame)
	}
	want := map[string]any{"presence": map[string]any{
		"ids":   []any{"1", `u"2\`, "é\u2028"},
		"hash":  map[string]any{"1": map[string]any{"name": `Ann "A"`}, `u"2\`: nil, "é\u2028": []any{1.0, 2.0}},
		"count": 3.0,
	}}
	if !reflect.DeepEqual(data, want) {
		t.Fatalf("data %#v\nwant %#v", data, want)
	}

	empty := AppendPresenceSucceeded(nil, "presence-x", nil, nil, 0)
	if _, data := decodeServerFrame(t, empty); !reflect.DeepEqual(data, map[string]any{"presence": map[string]any{"ids": []any{}, "hash": map[string]any{}, "count": 0.0}}) {
		t.Fatalf("empty roster frame %s", empty)
	}
}
