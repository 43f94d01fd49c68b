package pusherclient

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The signatures below follow Pusher's library auth reference (auth signatures and the HTTP
// API's request signing) and are written here on purpose, not shared with any server: a
// signing bug in a server then fails against this client instead of agreeing with itself.
// pusherclient's tests check them against the worked examples of Pusher's documentation.

// hmacHex is hex(HMAC-SHA256(secret, message)).
func hmacHex(secret, message string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

// channelAuth signs "socket_id:channel" (private and encrypted channels) or
// "socket_id:channel:channel_data" (presence channels) and returns "key:signature".
func channelAuth(key, secret, socketID, channel, channelData string) string {
	msg := socketID + ":" + channel
	if channelData != "" {
		msg += ":" + channelData
	}
	return key + ":" + hmacHex(secret, msg)
}

// userAuth signs "socket_id::user::user_data" for pusher:signin.
func userAuth(key, secret, socketID, userData string) string {
	return key + ":" + hmacHex(secret, socketID+"::user::"+userData)
}

// stringToSign is the HTTP API's "METHOD\nPATH\nQUERY": the query without auth_signature,
// keys lower-cased and sorted, "key=value" pairs joined by '&', values not escaped.
func stringToSign(method, path string, query url.Values) string {
	type pair struct{ key, value string }
	pairs := make([]pair, 0, len(query))
	for k := range query {
		if lk := strings.ToLower(k); lk != "auth_signature" {
			pairs = append(pairs, pair{lk, query.Get(k)})
		}
	}
	// By key, then value: keys differing only in case must not make the string depend on
	// map order.
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].key != pairs[j].key {
			return pairs[i].key < pairs[j].key
		}
		return pairs[i].value < pairs[j].value
	})
	var b strings.Builder
	b.WriteString(strings.ToUpper(method) + "\n" + path + "\n")
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key + "=" + p.value)
	}
	return b.String()
}

// signQuery adds auth_key, auth_timestamp, auth_version, body_md5 (for a non-empty body) and
// auth_signature to query, as the Pusher server libraries do.
func signQuery(key, secret, method, path string, query url.Values, body []byte, now time.Time) {
	query.Del("auth_signature")
	query.Set("auth_key", key)
	query.Set("auth_timestamp", strconv.FormatInt(now.Unix(), 10))
	query.Set("auth_version", "1.0")
	if len(body) > 0 {
		sum := md5.Sum(body)
		query.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	query.Set("auth_signature", hmacHex(secret, stringToSign(method, path, query)))
}
