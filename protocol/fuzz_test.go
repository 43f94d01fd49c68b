package protocol

import (
	"bytes"
	"strconv"

	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Seeds in code keep `go test` exercising every target; testdata/fuzz holds the committed corpus.

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":1}"}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"a\"}"}`,
		`{"event":"client-x","channel":"private-a","data":{"n":[1,2]}}`,
		`{"event":"pusher:ping","data":{}}`,
		`{"event":""}`, `{"event":"e"}x`, `[]`, `null`, `"str"`, ``, "{\"event\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		if fr.Event == "" {
			t.Fatal("decoded a frame with an empty event")
		}
		var sub SubscribeData
		if err := DecodeData(fr.Data, &sub); err != nil && !errors.Is(err, ErrBadFrame) {
			t.Fatalf("DecodeData error %v does not wrap ErrBadFrame", err)
		}
		// What was decoded re-encodes to a frame that decodes to the same thing.
		again, err := DecodeFrame(AppendEventRawData(nil, fr.Event, fr.Channel, fr.Data, ""))
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if again.Event != fr.Event || again.Channel != fr.Channel {
			t.Fatalf("round trip changed %q/%q to %q/%q", fr.Event, fr.Channel, again.Event, again.Channel)
		}
	})
}

func FuzzChannelName(f *testing.F) {
	for _, s := range []string{
		"my-channel", "private-a", "presence-cache-a", "private-encrypted-cache-x", "cache-",
		"#server-to-user-1", "a b", "café", "", strings.Repeat("x", 165),
	} {
		f.Add(s, 0)
	}
	f.Add("private-abc", 5)
	f.Fuzz(func(t *testing.T, name string, maxLen int) {
		c, err := ParseChannel(name, maxLen)
		limit := maxLen
		if limit <= 0 {
			limit = len(name) // no length limit: only the characters count
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidChannel) {
				t.Fatalf("error %v does not wrap ErrInvalidChannel", err)
			}
			if name != "" && len(name) <= limit && allAllowed(name) {
				t.Fatalf("rejected the valid name %q (limit %d): %v", name, limit, err)
			}
			return
		}
		if c.Name != name {
			t.Fatalf("Name = %q, want %q", c.Name, name)
		}
		if name == "" || len(name) > limit {
			t.Fatalf("accepted %q of %d bytes, limit %d", name, len(name), limit)
		}
		if !allAllowed(name) {
			t.Fatalf("accepted %q with a byte outside the charset", name)
		}
		wantKind, rest := Public, name
		switch {
		case strings.HasPrefix(name, "private-encrypted-"):
			wantKind, rest = Encrypted, name[len("private-encrypted-"):]
		case strings.HasPrefix(name, "private-"):
			wantKind, rest = Private, name[len("private-"):]
		case strings.HasPrefix(name, "presence-"):
			wantKind, rest = Presence, name[len("presence-"):]
		}
		if c.Kind != wantKind {
			t.Fatalf("%q: kind %v, want %v", name, c.Kind, wantKind)
		}
		if c.Cache != strings.HasPrefix(rest, "cache-") {
			t.Fatalf("%q: cache %v", name, c.Cache)
		}
		if c.Kind.NeedsAuth() != (wantKind != Public) {
			t.Fatalf("%q: NeedsAuth %v", name, c.Kind.NeedsAuth())
		}
	})
}

func allAllowed(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-=@,.;", c) >= 0) {
			return false
		}
	}
	return true
}

func FuzzChannelAuth(f *testing.F) {
	f.Add("278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1234", "private-foobar", "", uint(0), byte(1))
	f.Add("key", "secret", "1.2", "presence-a", `{"user_id":"u"}`, uint(25), byte(0x20))
	f.Add("k", "", "", "", "", uint(3), byte(0xff))
	f.Fuzz(func(t *testing.T, key, secret, socketID, channel, channelData string, at uint, mask byte) {
		if strings.Contains(key, ":") {
			t.Skip("an app key never holds the separator")
		}
		if mask == 0 {
			mask = 1
		}
		auth := ChannelAuth(key, secret, socketID, channel, channelData)
		if !VerifyChannelAuth(key, secret, socketID, channel, channelData, auth) {
			t.Fatalf("signed auth %q does not verify", auth)
		}
		b := []byte(auth)
		b[at%uint(len(b))] ^= mask
		if VerifyChannelAuth(key, secret, socketID, channel, channelData, string(b)) {
			t.Fatalf("auth with a changed byte verifies: %q", b)
		}
		if VerifyChannelAuth(key, secret, socketID, channel, channelData, auth[:len(auth)-1]) {
			t.Fatal("truncated auth verifies")
		}

		user := UserAuth(key, secret, socketID, channelData)
		if !VerifyUserAuth(key, secret, socketID, channelData, user) {
			t.Fatalf("signed user auth %q does not verify", user)
		}
		b = []byte(user)
		b[at%uint(len(b))] ^= mask
		if VerifyUserAuth(key, secret, socketID, channelData, string(b)) {
			t.Fatalf("user auth with a changed byte verifies: %q", b)
		}
	})
}

func FuzzHTTPSignature(f *testing.F) {
	f.Add("/apps/3/events", "info", "user_count,subscription_count", []byte(`{"name":"foo","channels":["project-3"],"data":"{}"}`), int64(1353088179), uint(5), byte(1))
	f.Add("/apps/1/channels", "filter_by_prefix", "presence-", []byte(nil), int64(0), uint(0), byte(0x80))
	f.Add("/", "", "", []byte("x"), int64(-1), uint(7), byte(0xff))
	f.Add("/apps/1/users/é/terminate_connections", "A", "a&b=c", []byte{0}, int64(1<<62), uint(1), byte(2))
	f.Fuzz(func(t *testing.T, path, qk, qv string, body []byte, ts int64, at uint, mask byte) {
		const key, secret = "app-key", "app-secret"
		now := time.Unix(ts, 0)

		// Arbitrary values in the auth parameters: never a panic, never success.
		hostile := url.Values{"auth_key": {qv}, "auth_timestamp": {qv}, "auth_version": {qv}, "auth_signature": {qv}, "body_md5": {qv}, qk: {qv}}
		if err := VerifyHTTPRequest(key, secret, "POST", path, hostile, body, now, HTTPTimestampWindow); err == nil {
			t.Fatalf("accepted unsigned query %v", hostile)
		}

		lk := strings.ToLower(qk)
		if strings.HasPrefix(lk, "auth_") || lk == "body_md5" {
			t.Skip("the signer owns these parameters")
		}
		q := url.Values{}
		if lk != "" {
			q.Set(lk, qv)
		}
		SignHTTPRequest(key, secret, "POST", path, q, body, now)
		if err := VerifyHTTPRequest(key, secret, "POST", path, q, body, now, HTTPTimestampWindow); err != nil {
			t.Fatalf("signed request rejected: %v (query %v)", err, q)
		}
		// The signed request with a case variant of a parameter, or a parameter given twice, is
		// refused: it could mean something other than what was signed.
		if uk := strings.ToUpper(lk); lk != "" && uk != lk {
			variant := cloneValues(q)
			variant.Set(uk, qv+"!")
			if err := VerifyHTTPRequest(key, secret, "POST", path, variant, body, now, HTTPTimestampWindow); !errors.Is(err, ErrAuthParams) {
				t.Fatalf("case variant %q: %v, want ErrAuthParams", uk, err)
			}
		}
		twice := cloneValues(q)
		twice.Add("auth_timestamp", strconv.FormatInt(ts+1, 10))
		if err := VerifyHTTPRequest(key, secret, "POST", path, twice, body, now, HTTPTimestampWindow); !errors.Is(err, ErrAuthParams) {
			t.Fatalf("auth_timestamp given twice: %v, want ErrAuthParams", err)
		}

		changed := append([]byte(nil), body...)
		if len(changed) == 0 {
			changed = append(changed, mask)
		} else {
			if mask == 0 {
				mask = 1
			}
			changed[at%uint(len(changed))] ^= mask
		}
		if err := VerifyHTTPRequest(key, secret, "POST", path, q, changed, now, HTTPTimestampWindow); !errors.Is(err, ErrAuthBodyMD5) {
			t.Fatalf("changed body: %v, want ErrAuthBodyMD5", err)
		}
		if err := VerifyHTTPRequest(key, secret, "POST", path, q, append(body[:len(body):len(body)], 'x'), now, HTTPTimestampWindow); !errors.Is(err, ErrAuthBodyMD5) {
			t.Fatalf("longer body: %v, want ErrAuthBodyMD5", err)
		}
		if err := VerifyHTTPRequest(key, secret, "POST", path+"x", q, body, now, HTTPTimestampWindow); !errors.Is(err, ErrAuthSignature) {
			t.Fatalf("changed path: %v, want ErrAuthSignature", err)
		}
	})
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStringCases() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendJSONString(nil, s)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q for %q", out, s)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if want := validUTF8(s); back != want {
			t.Fatalf("%q decodes to %q, want %q", s, back, want)
		}
		if strings.ContainsAny(string(out), "\u2028\u2029") {
			t.Fatalf("raw line separator in %q", out)
		}
	})
}

// FuzzDecodersMatchEncodingJSON holds DecodeFrame and DecodeData, which read frames without
// reflection, to what encoding/json decodes from the same bytes into the same structs: the
// same frames and data accepted, with the same values.
func FuzzDecodersMatchEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":1}"}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"a\",\"auth\":null}"}`,
		`{"EVENT":"x","Channel":"c","data":[1]}`, `{"event":"a","event":"b"}`, `{"event":"a","event":5}`,
		`{"event":"e","data":null}`, `{"event":"e","data":"null"}`, `{"event":"pusher:signin","data":{"auth":"a","user_data":"{}"}}`,
		`{"event":"\u00e9\ud800","channel":"\/x"}`, `{"event":"e"} `, ` {"event":"e"}x`, `null`, `{"event":"e","data":{"channel":1}}`,
		"{\"event\":\"e\xff\xfe\"}", `{"event":"e","data":{"ſhannel":"k"}}`, `{"event":"e","data":01}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeFrame(b)
		var want Frame
		wantErr := json.Unmarshal(b, &want)
		if wantErr == nil && want.Event == "" {
			wantErr = errors.New("no event name")
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeFrame(%q): error %v, encoding/json: %v", b, err, wantErr)
		}
		if err != nil {
			return
		}
		if got.Event != want.Event || got.Channel != want.Channel || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("DecodeFrame(%q) = %+v, encoding/json: %+v", b, got, want)
		}
		inner, _, uerr := unquote(bytes.TrimSpace(got.Data))
		var sub, subWant SubscribeData
		err = DecodeData(got.Data, &sub)
		if uerr == nil {
			wantErr = json.Unmarshal(inner, &subWant)
		} else {
			wantErr = uerr
		}
		if (err == nil) != (wantErr == nil) || sub != subWant {
			t.Fatalf("subscribe data %q: %+v, %v; encoding/json: %+v, %v", got.Data, sub, err, subWant, wantErr)
		}
		var in, inWant SigninData
		err = DecodeData(got.Data, &in)
		if uerr == nil {
			wantErr = json.Unmarshal(inner, &inWant)
		}
		if (err == nil) != (wantErr == nil) || in != inWant {
			t.Fatalf("signin data %q: %+v, %v; encoding/json: %+v, %v", got.Data, in, err, inWant, wantErr)
		}
	})
}
