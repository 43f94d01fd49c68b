package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The decoders of what clients put inside pusher:subscribe and pusher:signin. Seeds here keep
// `go test` running each target; testdata/fuzz/<target> holds the committed corpus.

func FuzzPresenceChannelData(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"u1","user_info":{"name":"Ann"}}`, `{"user_id":42}`, `{"user_id":-1.5e3}`,
		`{"user_id":""}`, `{"user_id":null}`, `{"user_id":true}`, `{"user_id":["a"]}`, `{}`,
		`{"user_id":"u","user_info":null}`, `{"user_id":"u","user_info":"` + strings.Repeat("x", 2000) + `"}`,
		`{"user_id":"u"}x`, `[]`, ``, "{\"user_id\":\"\xff\"}", `{"user_id":"u","user_info":` + strings.Repeat("[", 20000) + `}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParsePresenceChannelData(s)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		if d.UserID == "" {
			t.Fatal("accepted an empty user id")
		}
		if len(d.UserInfo) > 0 && !json.Valid(d.UserInfo) {
			t.Fatalf("user_info %q is not JSON", d.UserInfo)
		}
		// What herald keeps re-encodes to channel_data that parses to the same member.
		again, err := ParsePresenceChannelData(string(mustMarshal(t, map[string]any{"user_id": d.UserID, "user_info": d.UserInfo})))
		if err != nil {
			t.Fatalf("re-encoded member does not parse: %v", err)
		}
		if again.UserID != d.UserID || !sameJSON(again.UserInfo, d.UserInfo) {
			t.Fatalf("round trip changed %q/%s to %q/%s", d.UserID, d.UserInfo, again.UserID, again.UserInfo)
		}
	})
}

func FuzzUserData(f *testing.F) {
	for _, s := range []string{
		`{"id":"u1","user_info":{"name":"Ann"},"watchlist":["u2","u3"]}`, `{"id":7}`, `{"id":"u","watchlist":[]}`,
		`{"id":"u","watchlist":[1]}`, `{"id":"u","watchlist":"u2"}`, `{"id":""}`, `{"watchlist":["u2"]}`,
		`{"id":{"x":1}}`, `null`, `{"id":"u"}{}`, "{\"id\":\"\xed\xa0\x80\"}", `{"id":"u","watchlist":[` + strings.Repeat(`"w",`, 500) + `"w"]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseUserData(s)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		if d.ID == "" {
			t.Fatal("accepted an empty user id")
		}
		again, err := ParseUserData(string(mustMarshal(t, map[string]any{"id": d.ID, "watchlist": d.Watchlist})))
		if err != nil {
			t.Fatalf("re-encoded user_data does not parse: %v", err)
		}
		if again.ID != d.ID || !slices.Equal(again.Watchlist, d.Watchlist) {
			t.Fatalf("round trip changed %q/%q to %q/%q", d.ID, d.Watchlist, again.ID, again.Watchlist)
		}
	})
}

func FuzzSubscribeData(f *testing.F) {
	for _, s := range []string{
		`{"channel":"my-channel"}`, `{"channel":"private-a","auth":"key:sig"}`,
		`{"channel":"presence-a","auth":"key:sig","channel_data":"{\"user_id\":\"1\"}"}`,
		`"{\"channel\":\"wrapped\"}"`, `"not json inside"`, `""`, `{"channel":42}`, `{"channel_data":{"user_id":1}}`,
		`null`, `[]`, ``, ` {"channel":"padded"} `, `{"channel":"a"}trailing`, `"\u0000"`, "{\"channel\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var d SubscribeData
		if err := DecodeData(raw, &d); err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		// Both shapes clients send, an object and a string holding one, decode to the same.
		obj := mustMarshal(t, d)
		for _, shape := range [][]byte{obj, mustMarshal(t, string(obj))} {
			var again SubscribeData
			if err := DecodeData(shape, &again); err != nil {
				t.Fatalf("re-encoded %s does not decode: %v", shape, err)
			}
			if again != d {
				t.Fatalf("round trip changed %+v to %+v", d, again)
			}
		}
		// And inside a whole frame, as the transport reads it.
		fr, err := DecodeFrame(AppendEventRawData(nil, EventSubscribe, "", obj, ""))
		if err != nil {
			t.Fatalf("subscribe frame does not decode: %v", err)
		}
		var inFrame SubscribeData
		if err := DecodeData(fr.Data, &inFrame); err != nil || inFrame != d {
			t.Fatalf("frame data decodes to %+v, %v; want %+v", inFrame, err, d)
		}
	})
}

// mustMarshal encodes v as a client would, without escaping <, > and & (which json.Marshal
// would also do inside a json.RawMessage, making the bytes differ though the value does not).
func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// sameJSON compares raw JSON values, nil counting as null.
func sameJSON(a, b json.RawMessage) bool {
	norm := func(r json.RawMessage) []byte {
		if len(r) == 0 {
			return []byte("null")
		}
		var buf bytes.Buffer
		if json.Compact(&buf, r) != nil {
			return r
		}
		return buf.Bytes()
	}
	return bytes.Equal(norm(a), norm(b))
}

// FuzzEventData: the data normaliser and the client-event data check never pass bytes a
// browser would refuse (invalid UTF-8, invalid JSON), and never change a string's value.
func FuzzEventData(f *testing.F) {
	for _, s := range []string{`"hello"`, `{"a":1}`, `null`, ``, `"\ud83d\ude00"`, "\"\xff\"", `[1,`, `"\u0000"`, `  "x"  `, "{\"k\":\"\xed\xa0\x80\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if text, err := EventText(raw); err == nil {
			if !utf8.ValidString(text) {
				t.Fatalf("EventText(%q) = %q: not UTF-8", raw, text)
			}
			var want string
			if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '"' {
				if json.Unmarshal(trimmed, &want) != nil || want != text {
					t.Fatalf("EventText(%q) = %q, want the string's value %q", raw, text, want)
				}
			}
		} else if !errors.Is(err, ErrEventDataInvalid) {
			t.Fatalf("EventText(%q): %v does not wrap ErrEventDataInvalid", raw, err)
		}
		if data, err := ClientEventData(raw); err == nil {
			if !utf8.Valid(data) || !json.Valid(data) {
				t.Fatalf("ClientEventData(%q) = %q: not valid JSON text", raw, data)
			}
		} else if !errors.Is(err, ErrEventDataInvalid) {
			t.Fatalf("ClientEventData(%q): %v does not wrap ErrEventDataInvalid", raw, err)
		}
	})
}
