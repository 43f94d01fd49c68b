package protocol

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestHTTPStringToSign(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		query  url.Values
		want   string
	}{
		{
			name: "sorted, signature left out", method: "get", path: "/apps/1/channels",
			query: url.Values{"filter_by_prefix": {"presence-"}, "auth_key": {"k"}, "auth_signature": {"x"}, "Info": {"user_count"}},
			want:  "GET\n/apps/1/channels\nauth_key=k&filter_by_prefix=presence-&info=user_count",
		},
		{
			name: "values not escaped", method: "POST", path: "/apps/1/events",
			query: url.Values{"a": {"x y&z=1"}, "B": {"é"}},
			want:  "POST\n/apps/1/events\na=x y&z=1&b=é",
		},
		{
			name: "any case of auth_signature is left out", method: "GET", path: "/p",
			query: url.Values{"AUTH_SIGNATURE": {"x"}, "z": {"1"}},
			want:  "GET\n/p\nz=1",
		},
		{name: "empty query", method: "GET", path: "/p", query: url.Values{}, want: "GET\n/p\n"},
		{name: "nil query", method: "GET", path: "/p", want: "GET\n/p\n"},
		{
			name: "first of repeated values", method: "GET", path: "/p",
			query: url.Values{"a": {"1", "2"}},
			want:  "GET\n/p\na=1",
		},
		{
			name: "keys equal but for case are ordered by spelling", method: "GET", path: "/p",
			query: url.Values{"a": {"lower"}, "A": {"upper"}, "b": {"x"}},
			want:  "GET\n/p\na=upper&a=lower&b=x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Repeat: map order is random, the string must not be.
			for range 20 {
				if got := HTTPStringToSign(tt.method, tt.path, tt.query); got != tt.want {
					t.Fatalf("got  %q\nwant %q", got, tt.want)
				}
			}
		})
	}
}

// The example of https://pusher.com/docs/channels/library_auth_reference/rest-api/ reproduced
// exactly: body_md5 and auth_signature below are the docs' values.
func TestHTTPSignaturePusherDocsVector(t *testing.T) {
	const (
		body    = `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
		bodyMD5 = "ec365a775a4cd0599faeb73354201b6f"
		sig     = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	)
	at := time.Unix(1353088179, 0)
	q := url.Values{}
	SignHTTPRequest(docsKey, docsSecret, "POST", "/apps/3/events", q, []byte(body), at)
	if got := q.Get("body_md5"); got != bodyMD5 {
		t.Fatalf("body_md5 = %s, want %s", got, bodyMD5)
	}
	wantString := "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=" + bodyMD5
	if got := HTTPStringToSign("POST", "/apps/3/events", q); got != wantString {
		t.Fatalf("string to sign %q, want %q", got, wantString)
	}
	if got := q.Get("auth_signature"); got != sig {
		t.Fatalf("auth_signature = %s, want %s", got, sig)
	}
	if got := hmacHex(docsSecret, wantString); got != sig {
		t.Fatalf("independent HMAC = %s, want %s", got, sig)
	}
	docsQuery := url.Values{
		"auth_key": {docsKey}, "auth_timestamp": {"1353088179"}, "auth_version": {"1.0"},
		"body_md5": {bodyMD5}, "auth_signature": {sig},
	}
	if err := VerifyHTTPRequest(docsKey, docsSecret, "POST", "/apps/3/events", docsQuery, []byte(body), at.Add(time.Minute), HTTPTimestampWindow); err != nil {
		t.Fatalf("docs example rejected: %v", err)
	}
}

func TestSignHTTPRequest(t *testing.T) {
	now := time.Unix(1700000000, 0)
	q := url.Values{"info": {"subscription_count"}, "auth_signature": {"stale"}}
	SignHTTPRequest("key", "secret", "GET", "/apps/1/channels/x", q, nil, now)
	if q.Get("auth_key") != "key" || q.Get("auth_timestamp") != "1700000000" || q.Get("auth_version") != "1.0" {
		t.Fatalf("auth params wrong: %v", q)
	}
	if q.Has("body_md5") {
		t.Fatalf("body_md5 set for an empty body: %v", q)
	}
	if len(q["auth_signature"]) != 1 {
		t.Fatalf("auth_signature not replaced: %v", q["auth_signature"])
	}
	want := hmacHex("secret", "GET\n/apps/1/channels/x\nauth_key=key&auth_timestamp=1700000000&auth_version=1.0&info=subscription_count")
	if got := q.Get("auth_signature"); got != want {
		t.Fatalf("auth_signature = %s, want %s", got, want)
	}

	body := []byte(`{"name":"e"}`)
	q = url.Values{}
	SignHTTPRequest("key", "secret", "POST", "/apps/1/events", q, body, now)
	sum := md5.Sum(body)
	if got := q.Get("body_md5"); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("body_md5 = %s", got)
	}
}

func TestVerifyHTTPRequest(t *testing.T) {
	const key, secret = "app-key", "app-secret"
	now := time.Unix(1700000000, 0)
	body := []byte(`{"name":"my-event","channels":["a"],"data":"{}"}`)
	signed := func(method, path string, query url.Values, body []byte, at time.Time) url.Values {
		q := url.Values{}
		for k, v := range query {
			q[k] = append([]string(nil), v...)
		}
		SignHTTPRequest(key, secret, method, path, q, body, at)
		return q
	}
	with := func(q url.Values, k, v string) url.Values {
		q.Set(k, v)
		return q
	}
	without := func(q url.Values, k string) url.Values {
		q.Del(k)
		return q
	}
	post := func() url.Values { return signed("POST", "/apps/1/events", nil, body, now) }
	get := func() url.Values {
		return signed("GET", "/apps/1/channels", url.Values{"filter_by_prefix": {"presence-"}}, nil, now)
	}
	md5Empty := md5.Sum(nil)
	tests := []struct {
		name   string
		method string
		path   string
		query  url.Values
		body   []byte
		want   error
	}{
		{name: "POST ok", method: "POST", path: "/apps/1/events", query: post(), body: body},
		{name: "GET ok", method: "GET", path: "/apps/1/channels", query: get()},
		{name: "method case does not matter", method: "post", path: "/apps/1/events", query: post(), body: body},
		{name: "upper-case hex signature", method: "GET", path: "/apps/1/channels",
			query: func() url.Values { q := get(); return with(q, "auth_signature", upper(q.Get("auth_signature"))) }()},
		{name: "upper-case body_md5", method: "POST", path: "/apps/1/events", body: body,
			query: func() url.Values {
				q := url.Values{"body_md5": {upper(md5Hex(body))}}
				SignHTTPRequest(key, secret, "POST", "/apps/1/events", q, nil, now)
				return q
			}()},
		{name: "600 s old", method: "GET", path: "/apps/1/channels", query: signed("GET", "/apps/1/channels", nil, nil, now.Add(-600*time.Second))},
		{name: "600 s ahead", method: "GET", path: "/apps/1/channels", query: signed("GET", "/apps/1/channels", nil, nil, now.Add(600*time.Second))},
		{name: "empty body with matching body_md5", method: "GET", path: "/p",
			query: func() url.Values {
				q := url.Values{"body_md5": {hex.EncodeToString(md5Empty[:])}}
				SignHTTPRequest(key, secret, "GET", "/p", q, nil, now)
				return q
			}()},

		{name: "no params", method: "GET", path: "/p", query: url.Values{}, want: ErrAuthMissing},
		{name: "missing auth_key", method: "GET", path: "/apps/1/channels", query: without(get(), "auth_key"), want: ErrAuthMissing},
		{name: "missing auth_timestamp", method: "GET", path: "/apps/1/channels", query: without(get(), "auth_timestamp"), want: ErrAuthMissing},
		{name: "missing auth_version", method: "GET", path: "/apps/1/channels", query: without(get(), "auth_version"), want: ErrAuthMissing},
		{name: "missing auth_signature", method: "GET", path: "/apps/1/channels", query: without(get(), "auth_signature"), want: ErrAuthMissing},
		{name: "version 2.0", method: "GET", path: "/apps/1/channels", query: with(get(), "auth_version", "2.0"), want: ErrAuthVersion},
		{name: "version 1", method: "GET", path: "/apps/1/channels", query: with(get(), "auth_version", "1"), want: ErrAuthVersion},
		{name: "wrong key", method: "GET", path: "/apps/1/channels", query: with(get(), "auth_key", "other"), want: ErrAuthKey},
		{name: "601 s old", method: "GET", path: "/apps/1/channels", query: signed("GET", "/apps/1/channels", nil, nil, now.Add(-601*time.Second)), want: ErrAuthTimestamp},
		{name: "601 s ahead", method: "GET", path: "/apps/1/channels", query: signed("GET", "/apps/1/channels", nil, nil, now.Add(601*time.Second)), want: ErrAuthTimestamp},
		{name: "timestamp not a number", method: "GET", path: "/apps/1/channels", query: with(get(), "auth_timestamp", "soon"), want: ErrAuthTimestamp},
		{name: "timestamp in milliseconds", method: "GET", path: "/apps/1/channels", query: with(get(), "auth_timestamp", "1700000000000"), want: ErrAuthTimestamp},
		{name: "timestamp overflowing int64", method: "GET", path: "/apps/1/channels", query: with(get(), "auth_timestamp", "99999999999999999999"), want: ErrAuthTimestamp},
		{name: "huge negative timestamp", method: "GET", path: "/apps/1/channels", query: with(get(), "auth_timestamp", "-9223372036854775808"), want: ErrAuthTimestamp},
		{name: "body_md5 mismatch", method: "POST", path: "/apps/1/events", query: post(), body: []byte(`{"name":"other"}`), want: ErrAuthBodyMD5},
		{name: "body without body_md5", method: "POST", path: "/apps/1/events", query: signed("POST", "/apps/1/events", nil, nil, now), body: body, want: ErrAuthBodyMD5},
		{name: "body_md5 but body dropped", method: "POST", path: "/apps/1/events", query: post(), want: ErrAuthBodyMD5},
		{name: "tampered path", method: "POST", path: "/apps/2/events", query: post(), body: body, want: ErrAuthSignature},
		{name: "tampered method", method: "PUT", path: "/apps/1/events", query: post(), body: body, want: ErrAuthSignature},
		{name: "tampered query value", method: "GET", path: "/apps/1/channels", query: with(get(), "filter_by_prefix", "private-"), want: ErrAuthSignature},
		{name: "added query param", method: "GET", path: "/apps/1/channels", query: with(get(), "info", "user_count"), want: ErrAuthSignature},
		{name: "removed query param", method: "GET", path: "/apps/1/channels", query: without(get(), "filter_by_prefix"), want: ErrAuthSignature},
		{name: "wrong signature", method: "GET", path: "/apps/1/channels", query: with(get(), "auth_signature", hmacHex("other-secret", "x")), want: ErrAuthSignature},
		{name: "truncated signature", method: "GET", path: "/apps/1/channels",
			query: func() url.Values { q := get(); return with(q, "auth_signature", q.Get("auth_signature")[:63]) }(), want: ErrAuthSignature},
		{name: "case variant of a read parameter", method: "GET", path: "/apps/1/channels",
			query: func() url.Values { q := get(); q.Set("FILTER_BY_PREFIX", "private-"); return q }(), want: ErrAuthParams},
		{name: "upper-case parameter alone", method: "GET", path: "/apps/1/channels",
			query: func() url.Values {
				q := url.Values{"INFO": {"user_count"}}
				SignHTTPRequest(key, secret, "GET", "/apps/1/channels", q, nil, now)
				return q
			}(), want: ErrAuthParams},
		{name: "read parameter given twice", method: "GET", path: "/apps/1/channels",
			query: func() url.Values { q := get(); q.Add("filter_by_prefix", "private-"); return q }(), want: ErrAuthParams},
		{name: "auth_signature given twice", method: "GET", path: "/apps/1/channels",
			query: func() url.Values { q := get(); q.Add("auth_signature", q.Get("auth_signature")); return q }(), want: ErrAuthParams},
		{name: "signed with another secret", method: "GET", path: "/apps/1/channels",
			query: func() url.Values {
				q := url.Values{}
				SignHTTPRequest(key, "other", "GET", "/apps/1/channels", q, nil, now)
				return q
			}(), want: ErrAuthSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyHTTPRequest(key, secret, tt.method, tt.path, tt.query, tt.body, now, HTTPTimestampWindow)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifyHTTPRequest = %v, want %v", err, tt.want)
			}
		})
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}
