package protocol

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Errors of the HTTP API signature check; all are answered with 401.
var (
	ErrAuthMissing   = errors.New("missing auth_key, auth_timestamp, auth_version or auth_signature")
	ErrAuthVersion   = errors.New("auth_version must be 1.0")
	ErrAuthTimestamp = fmt.Errorf("auth_timestamp more than %v from the server's time: check the client's clock", HTTPTimestampWindow)
	ErrAuthKey       = errors.New("auth_key does not belong to this app")
	ErrAuthBodyMD5   = errors.New("body_md5 does not match the body")
	ErrAuthSignature = errors.New("invalid auth_signature")
	ErrAuthParams    = errors.New("query parameters must be in lower case and given once, as signed")
)

// HTTPStringToSign is METHOD\nPATH\nquery, the query sorted by lower-cased key, without
// auth_signature, values not escaped, as the Pusher HTTP libraries build it.
func HTTPStringToSign(method, path string, query url.Values) string {
	// Keys that differ only in case lower-case to the same name; ordering them by their original
	// spelling too keeps the string (and so the signature) independent of map iteration order.
	type param struct{ lower, key string }
	params := make([]param, 0, len(query))
	for k := range query {
		if strings.EqualFold(k, "auth_signature") {
			continue
		}
		params = append(params, param{strings.ToLower(k), k})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].lower != params[j].lower {
			return params[i].lower < params[j].lower
		}
		return params[i].key < params[j].key
	})
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.lower)
		b.WriteByte('=')
		b.WriteString(query.Get(p.key))
	}
	return b.String()
}

// SignHTTPRequest adds auth_key, auth_timestamp, auth_version, body_md5 (when body is not empty)
// and auth_signature to query, as a Pusher HTTP library does.
func SignHTTPRequest(key, secret, method, path string, query url.Values, body []byte, now time.Time) {
	query.Set("auth_key", key)
	query.Set("auth_timestamp", strconv.FormatInt(now.Unix(), 10))
	query.Set("auth_version", "1.0")
	if len(body) > 0 {
		sum := md5.Sum(body)
		query.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	query.Del("auth_signature")
	query.Set("auth_signature", Sign(secret, HTTPStringToSign(method, path, query)))
}

// VerifyHTTPRequest checks a signed HTTP API request: VerifyHTTPSignature, then VerifyBodyMD5.
func VerifyHTTPRequest(key, secret, method, path string, query url.Values, body []byte, now time.Time, window time.Duration) error {
	if err := VerifyHTTPSignature(key, secret, method, path, query, now, window); err != nil {
		return err
	}
	return VerifyBodyMD5(query, body)
}

// VerifyHTTPSignature checks all of a signed request but its body, cheaply, so that a server
// reads the body only after it: every parameter in lower case and given once (signing lower-cases
// the names, so a case variant or a repeat would let a request mean something other than what was
// signed), then key, version, timestamp within window of now, and the signature (which covers
// body_md5), compared in constant time.
func VerifyHTTPSignature(key, secret, method, path string, query url.Values, now time.Time, window time.Duration) error {
	for k, v := range query {
		if len(v) != 1 || k != strings.ToLower(k) {
			return fmt.Errorf("%w: %q", ErrAuthParams, k)
		}
	}
	gotKey, ts, version, sig := query.Get("auth_key"), query.Get("auth_timestamp"), query.Get("auth_version"), query.Get("auth_signature")
	if gotKey == "" || ts == "" || version == "" || sig == "" {
		return ErrAuthMissing
	}
	if version != "1.0" {
		return ErrAuthVersion
	}
	if !hmac.Equal([]byte(gotKey), []byte(key)) {
		return ErrAuthKey
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a number", ErrAuthTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return ErrAuthTimestamp
	}
	want := Sign(secret, HTTPStringToSign(method, path, query))
	if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(want)) {
		return ErrAuthSignature
	}
	return nil
}

// VerifyBodyMD5 checks the body against the body_md5 the signature covers: required for a
// non-empty body, and matching any body when given.
func VerifyBodyMD5(query url.Values, body []byte) error {
	if len(body) == 0 && !query.Has("body_md5") {
		return nil
	}
	sum := md5.Sum(body)
	if !hmac.Equal([]byte(strings.ToLower(query.Get("body_md5"))), []byte(hex.EncodeToString(sum[:]))) {
		return ErrAuthBodyMD5
	}
	return nil
}
