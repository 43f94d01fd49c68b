package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Frame
		err  bool
	}{
		{name: "subscribe with object data", in: `{"event":"pusher:subscribe","data":{"channel":"a"}}`,
			want: Frame{Event: "pusher:subscribe", Data: json.RawMessage(`{"channel":"a"}`)}},
		{name: "data as string", in: `{"event":"pusher:subscribe","data":"{\"channel\":\"a\"}"}`,
			want: Frame{Event: "pusher:subscribe", Data: json.RawMessage(`"{\"channel\":\"a\"}"`)}},
		{name: "client event with channel", in: `{"event":"client-x","channel":"private-a","data":{"n":1}}`,
			want: Frame{Event: "client-x", Channel: "private-a", Data: json.RawMessage(`{"n":1}`)}},
		{name: "no data", in: `{"event":"pusher:ping"}`, want: Frame{Event: "pusher:ping"}},
		{name: "data number", in: `{"event":"e","data":12}`, want: Frame{Event: "e", Data: json.RawMessage(`12`)}},
		{name: "surrounding whitespace", in: " \n{\"event\":\"e\"}\t", want: Frame{Event: "e"}},
		{name: "unknown fields ignored", in: `{"event":"e","extra":[1,2]}`, want: Frame{Event: "e"}},
		{name: "missing event", in: `{"data":{}}`, err: true},
		{name: "empty event", in: `{"event":""}`, err: true},
		{name: "null event", in: `{"event":null}`, err: true},
		{name: "event not a string", in: `{"event":5}`, err: true},
		{name: "channel not a string", in: `{"event":"e","channel":5}`, err: true},
		{name: "array", in: `[{"event":"e"}]`, err: true},
		{name: "string", in: `"pusher:ping"`, err: true},
		{name: "number", in: `1`, err: true},
		{name: "null", in: `null`, err: true},
		{name: "empty", in: ``, err: true},
		{name: "trailing garbage", in: `{"event":"e"}x`, err: true},
		{name: "two objects", in: `{"event":"e"}{"event":"f"}`, err: true},
		{name: "truncated", in: `{"event":"e"`, err: true},
		{name: "invalid UTF-8 is replaced, not rejected", in: "{\"event\":\"e\xff\"}", want: Frame{Event: "e\uFFFD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFrame([]byte(tt.in))
			if tt.err {
				if err == nil {
					t.Fatalf("DecodeFrame(%q) = %+v, want error", tt.in, got)
				}
				if !errors.Is(err, ErrBadFrame) {
					t.Fatalf("error %v does not wrap ErrBadFrame", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeFrame(%q): %v", tt.in, err)
			}
			if got.Event != tt.want.Event || got.Channel != tt.want.Channel || !bytes.Equal(got.Data, tt.want.Data) {
				t.Fatalf("DecodeFrame(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeData(t *testing.T) {
	want := SubscribeData{Channel: "presence-a", Auth: "k:s", ChannelData: `{"user_id":"1"}`}
	tests := []struct {
		name string
		raw  string
		want SubscribeData
		err  bool
	}{
		{name: "object", raw: `{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":\"1\"}"}`, want: want},
		{name: "string-wrapped object", raw: `"{\"channel\":\"presence-a\",\"auth\":\"k:s\",\"channel_data\":\"{\\\"user_id\\\":\\\"1\\\"}\"}"`, want: want},
		{name: "leading whitespace before string", raw: ` "{\"channel\":\"a\"}"`, want: SubscribeData{Channel: "a"}},
		{name: "null leaves zero value", raw: `null`, want: SubscribeData{}},
		{name: "empty", raw: ``, err: true},
		{name: "string not an object", raw: `"a"`, err: true},
		{name: "broken string", raw: `"{\"channel\"`, err: true},
		{name: "bad string literal", raw: `"\x"`, err: true},
		{name: "array", raw: `[]`, err: true},
		{name: "wrong field type", raw: `{"channel":1}`, err: true},
		{name: "doubly wrapped is not unwrapped twice", raw: `"\"{\\\"channel\\\":\\\"a\\\"}\""`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got SubscribeData
			err := DecodeData(json.RawMessage(tt.raw), &got)
			if tt.err {
				if err == nil {
					t.Fatalf("DecodeData(%s) = %+v, want error", tt.raw, got)
				}
				if !errors.Is(err, ErrBadFrame) {
					t.Fatalf("error %v does not wrap ErrBadFrame", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeData(%s): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Fatalf("DecodeData(%s) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestDecodeDataSignin(t *testing.T) {
	var got SigninData
	if err := DecodeData(json.RawMessage(`{"auth":"k:s","user_data":"{\"id\":\"7\"}"}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.Auth != "k:s" || got.UserData != `{"id":"7"}` {
		t.Fatalf("got %+v", got)
	}
}

func TestParsePresenceChannelData(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		id       string
		userInfo string
		err      bool
	}{
		{name: "string id", in: `{"user_id":"abc","user_info":{"name":"A"}}`, id: "abc", userInfo: `{"name":"A"}`},
		{name: "numeric id", in: `{"user_id":42}`, id: "42"},
		{name: "negative float id kept verbatim", in: `{"user_id":-1.5e3}`, id: "-1.5e3"},
		{name: "whitespace around id", in: `{"user_id": "x" , "user_info": "str"}`, id: "x", userInfo: `"str"`},
		{name: "unicode id", in: `{"user_id":"\u00e9t\u00e9"}`, id: "été"},
		{name: "missing id", in: `{"user_info":{}}`, err: true},
		{name: "null id", in: `{"user_id":null}`, err: true},
		{name: "empty string id", in: `{"user_id":""}`, err: true},
		{name: "bool id", in: `{"user_id":true}`, err: true},
		{name: "object id", in: `{"user_id":{}}`, err: true},
		{name: "array id", in: `{"user_id":[1]}`, err: true},
		{name: "bad JSON", in: `{"user_id":`, err: true},
		{name: "not an object", in: `"x"`, err: true},
		{name: "empty", in: ``, err: true},
		{name: "null", in: `null`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePresenceChannelData(tt.in)
			if tt.err {
				if err == nil {
					t.Fatalf("ParsePresenceChannelData(%q) = %+v, want error", tt.in, got)
				}
				if !errors.Is(err, ErrBadFrame) {
					t.Fatalf("error %v does not wrap ErrBadFrame", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePresenceChannelData(%q): %v", tt.in, err)
			}
			if got.UserID != tt.id || string(got.UserInfo) != tt.userInfo {
				t.Fatalf("got id %q info %s, want %q %s", got.UserID, got.UserInfo, tt.id, tt.userInfo)
			}
		})
	}
}

func TestParseUserData(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		id        string
		watchlist []string
		err       bool
	}{
		{name: "id only", in: `{"id":"u1"}`, id: "u1"},
		{name: "numeric id", in: `{"id":7,"user_info":{"name":"x"}}`, id: "7"},
		{name: "watchlist", in: `{"id":"u1","watchlist":["a","b"]}`, id: "u1", watchlist: []string{"a", "b"}},
		{name: "missing id", in: `{"watchlist":["a"]}`, err: true},
		{name: "empty id", in: `{"id":""}`, err: true},
		{name: "bad watchlist", in: `{"id":"u1","watchlist":"a"}`, err: true},
		{name: "bad JSON", in: `{`, err: true},
		{name: "empty", in: ``, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUserData(tt.in)
			if tt.err {
				if err == nil {
					t.Fatalf("ParseUserData(%q) = %+v, want error", tt.in, got)
				}
				if !errors.Is(err, ErrBadFrame) {
					t.Fatalf("error %v does not wrap ErrBadFrame", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseUserData(%q): %v", tt.in, err)
			}
			if got.ID != tt.id || !reflect.DeepEqual(got.Watchlist, tt.watchlist) {
				t.Fatalf("got %+v, want id %q watchlist %v", got, tt.id, tt.watchlist)
			}
		})
	}
}

// decodeObject decodes b as one JSON object, failing the test if it is not valid JSON.
func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("not valid JSON: %q", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %q: %v", b, err)
	}
	return m
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name                         string
		event, channel, data, userID string
	}{
		{name: "plain", event: "my-event", channel: "my-channel", data: `{"a":1}`},
		{name: "no channel", event: "pusher:signin_success", data: `{"user_data":"{}"}`},
		{name: "with user", event: "client-typing", channel: "presence-x", data: "{}", userID: "u1"},
		{name: "empty data", event: "e", channel: "c"},
		{name: "plain text data", event: "e", channel: "c", data: "hello \"world\"\n\t\\"},
		{name: "hostile strings", event: "e\"},\"x\":\"", channel: "c\u2028", data: "\x00\x1f\xff<script>", userID: "\"u\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("PREFIX")
			out := AppendEvent(prefix, tt.event, tt.channel, tt.data, tt.userID)
			if !bytes.HasPrefix(out, []byte("PREFIX")) {
				t.Fatalf("dst not kept: %q", out)
			}
			m := decodeObject(t, out[len("PREFIX"):])
			wantLen := 2
			if m["event"] != validUTF8(tt.event) {
				t.Errorf("event = %q", m["event"])
			}
			if s, ok := m["data"].(string); !ok || s != validUTF8(tt.data) {
				t.Errorf("data = %#v, want the string %q", m["data"], tt.data)
			}
			if tt.channel != "" {
				wantLen++
				if m["channel"] != tt.channel {
					t.Errorf("channel = %q", m["channel"])
				}
			} else if _, ok := m["channel"]; ok {
				t.Errorf("channel present although empty")
			}
			if tt.userID != "" {
				wantLen++
				if m["user_id"] != tt.userID {
					t.Errorf("user_id = %q", m["user_id"])
				}
			} else if _, ok := m["user_id"]; ok {
				t.Errorf("user_id present although empty")
			}
			if len(m) != wantLen {
				t.Errorf("%d fields in %s, want %d", len(m), out, wantLen)
			}
		})
	}
}

func TestAppendEventExact(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{string(AppendEvent(nil, "e", "c", "d", "")), `{"event":"e","channel":"c","data":"d"}`},
		{string(AppendEvent(nil, "e", "", `{"x":"y"}`, "")), `{"event":"e","data":"{\"x\":\"y\"}"}`},
		{string(AppendEvent(nil, "e", "c", "", "u")), `{"event":"e","channel":"c","data":"","user_id":"u"}`},
		{string(AppendEventRawData(nil, "client-e", "private-c", json.RawMessage(`{"x":1}`), "")), `{"event":"client-e","channel":"private-c","data":{"x":1}}`},
		{string(AppendEventRawData(nil, "client-e", "presence-c", json.RawMessage(`"s"`), "u1")), `{"event":"client-e","channel":"presence-c","data":"s","user_id":"u1"}`},
		{string(AppendEventRawData(nil, "e", "", nil, "")), `{"event":"e"}`},
		{string(ErrorFrame(4009, "Unauthorized")), `{"event":"pusher:error","data":{"code":4009,"message":"Unauthorized"}}`},
		{string(ErrorFrame(0, "no code")), `{"event":"pusher:error","data":{"code":null,"message":"no code"}}`},
		{string(SubscriptionErrorFrame("private-a", SubscriptionErrorAuth, "bad auth", 401)), `{"event":"pusher:subscription_error","channel":"private-a","data":{"type":"AuthError","error":"bad auth","status":401}}`},
		{string(ConnectionEstablishedFrame("123.456", 120)), `{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %s\nwant %s", tt.got, tt.want)
		}
	}
}

func TestAppendEventRawData(t *testing.T) {
	for _, data := range []string{`{"a":[1,2,{"b":null}]}`, `"str"`, `12.5`, `null`, `true`, `[]`} {
		out := AppendEventRawData([]byte("x"), "client-e", "private-c", json.RawMessage(data), "u\"1")
		m := decodeObject(t, out[1:])
		got, err := json.Marshal(m["data"])
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatal(err)
		}
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(got, wantJSON) {
			t.Errorf("data %s came back as %s", data, got)
		}
		if m["user_id"] != "u\"1" || m["channel"] != "private-c" || m["event"] != "client-e" {
			t.Errorf("fields wrong: %s", out)
		}
	}
}

func TestErrorFrame(t *testing.T) {
	tests := []struct {
		code int
		msg  string
	}{
		{CodeAppNotFound, "App key x not in this cluster"},
		{CodeClientEventRateLimited, "rate limited \"quoted\"\n"},
		{0, ""},
		{-1, "\xff\u2028"},
	}
	for _, tt := range tests {
		m := decodeObject(t, ErrorFrame(tt.code, tt.msg))
		if m["event"] != EventError {
			t.Errorf("event = %v", m["event"])
		}
		data, ok := m["data"].(map[string]any)
		if !ok {
			t.Fatalf("data is %T, want an object", m["data"])
		}
		if tt.code == 0 {
			if v, ok := data["code"]; !ok || v != nil {
				t.Errorf("code = %v, want null", v)
			}
		} else if data["code"] != float64(tt.code) {
			t.Errorf("code = %v, want %d", data["code"], tt.code)
		}
		if data["message"] != validUTF8(tt.msg) {
			t.Errorf("message = %q", data["message"])
		}
	}
}

func TestSubscriptionErrorFrame(t *testing.T) {
	out := SubscriptionErrorFrame("presence-\"x", SubscriptionErrorLimitReached, "too many <members>", 403)
	m := decodeObject(t, out)
	if m["event"] != EventSubscriptionError || m["channel"] != "presence-\"x" {
		t.Fatalf("head wrong: %s", out)
	}
	var data struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	raw, _ := json.Marshal(m["data"])
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	if data.Type != SubscriptionErrorLimitReached || data.Error != "too many <members>" || data.Status != 403 {
		t.Fatalf("data = %+v", data)
	}
	if m := decodeObject(t, SubscriptionErrorFrame("", "t", "e", 0)); m["channel"] != nil {
		t.Fatalf("empty channel written: %v", m)
	}
}

func TestConnectionEstablishedFrame(t *testing.T) {
	for _, tt := range []struct {
		socketID string
		timeout  int
	}{{"1234.5678", 120}, {"1.2", 0}, {"weird\"id", 30}} {
		out := ConnectionEstablishedFrame(tt.socketID, tt.timeout)
		f, err := DecodeFrame(out)
		if err != nil {
			t.Fatal(err)
		}
		if f.Event != EventConnectionEstablished {
			t.Fatalf("event = %q", f.Event)
		}
		if len(f.Data) == 0 || f.Data[0] != '"' {
			t.Fatalf("data not double-encoded: %s", f.Data)
		}
		var data struct {
			SocketID        string `json:"socket_id"`
			ActivityTimeout int    `json:"activity_timeout"`
		}
		if err := DecodeData(f.Data, &data); err != nil {
			t.Fatal(err)
		}
		if data.SocketID != tt.socketID || data.ActivityTimeout != tt.timeout {
			t.Fatalf("data = %+v, want %+v", data, tt)
		}
	}
}

func TestPingPongFrames(t *testing.T) {
	for _, b := range [][]byte{PingFrame, PongFrame} {
		f, err := DecodeFrame(b)
		if err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		if err := DecodeData(f.Data, &data); err != nil || len(data) != 0 {
			t.Fatalf("%s: data %v, %v", b, data, err)
		}
	}
	if f, _ := DecodeFrame(PingFrame); f.Event != EventPing {
		t.Errorf("PingFrame event %q", f.Event)
	}
	if f, _ := DecodeFrame(PongFrame); f.Event != EventPong {
		t.Errorf("PongFrame event %q", f.Event)
	}
}

func TestAppendJSONStringExact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"abc", `"abc"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"\n\r\t", `"\n\r\t"`},
		{"\x00", `"\u0000"`},
		{"\x01\x08\x0c\x1f", `"\u0001\u0008\u000c\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"<>&", `"<>&"`},
		{"/", `"/"`},
		{"é漢😀", `"é漢😀"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"a\u2028b", `"a\u2028b"`},
		{"\xff", `"\ufffd"`},
		{"a\xc3", `"a\ufffd"`},
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // a UTF-16 surrogate encoded in UTF-8 is invalid
		{"\uFFFD", "\"\uFFFD\""},
	}
	for _, tt := range tests {
		if got := string(AppendJSONString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := string(AppendJSONString([]byte("x:"), "y")); got != `x:"y"` {
		t.Errorf("dst not appended to: %s", got)
	}
}

func jsonStringCases() []string {
	cases := []string{
		"", "plain", `"quoted"`, `back\slash`, "tab\there", "nl\nhere", "cr\rhere",
		"<html>&amp;</html>", "\u2028", "\u2029", "x\u2028y\u2029z", "é", "日本語", "😀 emoji",
		"\xff", "\xfe\xff", "a\x80b", "\xc3\x28", "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80\xed\xb0\x80",
		"\xf4\x90\x80\x80", "\uFFFD", "\x7f", string(rune(0x10FFFF)), `{"json":"inside"}`,
	}
	for c := 0; c < 0x20; c++ {
		cases = append(cases, string([]byte{'a', byte(c), 'b'}))
	}
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	return append(cases, string(all), strings.Repeat("\"\\\x00", 100))
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonStringCases() {
		got := AppendJSONString(nil, s)
		if !json.Valid(got) {
			t.Errorf("AppendJSONString(%q) = %s is not valid JSON", s, got)
			continue
		}
		std, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var fromOurs, fromStd string
		if err := json.Unmarshal(got, &fromOurs); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(std, &fromStd); err != nil {
			t.Fatal(err)
		}
		if fromOurs != fromStd {
			t.Errorf("%q: ours decodes to %q, encoding/json's to %q", s, fromOurs, fromStd)
		}
		if fromOurs != validUTF8(s) {
			t.Errorf("%q decodes to %q", s, fromOurs)
		}
		if bytes.ContainsAny(got, "\u2028\u2029") {
			t.Errorf("%q: raw U+2028/U+2029 in output %s", s, got)
		}
		if !utf8.Valid(got) {
			t.Errorf("%q: output is not UTF-8: %q", s, got)
		}
	}
}

// validUTF8 replaces each byte of invalid UTF-8 with U+FFFD, as encoding/json does.
func validUTF8(s string) string { return string([]rune(s)) }

// TestDecodeFrameNestingLimit: data nested deeper than encoding/json's limit is refused, as
// encoding/json refuses it, and data at the limit is taken.
func TestDecodeFrameNestingLimit(t *testing.T) {
	for _, depth := range []int{maxNesting - 1, maxNesting} {
		frame := `{"event":"client-x","data":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
		_, err := DecodeFrame([]byte(frame))
		var ref Frame
		refErr := json.Unmarshal([]byte(frame), &ref)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("depth %d (+1 for the frame): %v; encoding/json: %v", depth, err, refErr)
		}
		if tooLong := depth+1 > maxNesting; tooLong != (err != nil) {
			t.Fatalf("depth %d (+1 for the frame): error %v", depth, err)
		}
	}
	// Brackets inside strings do not count.
	if _, err := DecodeFrame([]byte(`{"event":"e","data":"` + strings.Repeat("[", maxNesting+1) + `\""}`)); err != nil {
		t.Fatalf("brackets in a string: %v", err)
	}
}
