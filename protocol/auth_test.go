package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// hmacHex is computed here rather than through Sign so the tests do not trust the code under test.
func hmacHex(secret, message string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

const (
	docsKey    = "278d425bdf160c739803"
	docsSecret = "7ad3773142a6692b25b8"
)

func TestSignKnownVector(t *testing.T) {
	// RFC 4231 test case 2.
	const want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got := Sign("Jefe", "what do ya want for nothing?"); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestChannelAuthPusherDocsVector(t *testing.T) {
	const want = "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
	if got := ChannelAuth(docsKey, docsSecret, "1234.1234", "private-foobar", ""); got != want {
		t.Fatalf("ChannelAuth = %s, want %s", got, want)
	}
	if !VerifyChannelAuth(docsKey, docsSecret, "1234.1234", "private-foobar", "", want) {
		t.Fatal("VerifyChannelAuth rejects the Pusher docs example")
	}
}

func TestChannelAuth(t *testing.T) {
	tests := []struct {
		name                           string
		socketID, channel, channelData string
		message                        string
	}{
		{"private", "1.2", "private-a", "", "1.2:private-a"},
		{"encrypted", "99.100", "private-encrypted-a", "", "99.100:private-encrypted-a"},
		{"presence", "1.2", "presence-a", `{"user_id":"u","user_info":{"n":1}}`, `1.2:presence-a:{"user_id":"u","user_info":{"n":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ChannelAuthString(tt.socketID, tt.channel, tt.channelData); got != tt.message {
				t.Fatalf("ChannelAuthString = %q, want %q", got, tt.message)
			}
			want := "key:" + hmacHex("secret", tt.message)
			auth := ChannelAuth("key", "secret", tt.socketID, tt.channel, tt.channelData)
			if auth != want {
				t.Fatalf("ChannelAuth = %s, want %s", auth, want)
			}
			if !VerifyChannelAuth("key", "secret", tt.socketID, tt.channel, tt.channelData, auth) {
				t.Fatal("VerifyChannelAuth rejects a good signature")
			}
		})
	}
}

func TestUserAuth(t *testing.T) {
	const userData = `{"id":"u1","user_info":{"name":"A"},"watchlist":["u2"]}`
	if got, want := UserAuthString("1.2", userData), "1.2::user::"+userData; got != want {
		t.Fatalf("UserAuthString = %q, want %q", got, want)
	}
	want := docsKey + ":" + hmacHex(docsSecret, "1234.1234::user::"+userData)
	auth := UserAuth(docsKey, docsSecret, "1234.1234", userData)
	if auth != want {
		t.Fatalf("UserAuth = %s, want %s", auth, want)
	}
	if !VerifyUserAuth(docsKey, docsSecret, "1234.1234", userData, auth) {
		t.Fatal("VerifyUserAuth rejects a good signature")
	}
	if VerifyUserAuth(docsKey, docsSecret, "1234.1235", userData, auth) {
		t.Fatal("VerifyUserAuth accepts another socket's signature")
	}
	// A channel signature must not pass as a user signature for the same bytes around it.
	if VerifyUserAuth(docsKey, docsSecret, "1234.1234", userData, ChannelAuth(docsKey, docsSecret, "1234.1234", "", userData)) {
		t.Fatal("VerifyUserAuth accepts a channel signature")
	}
}

func TestVerifyChannelAuthRejects(t *testing.T) {
	const socketID, channel, data = "1.2", "presence-a", `{"user_id":"u"}`
	good := ChannelAuth("key", "secret", socketID, channel, data)
	sig := strings.TrimPrefix(good, "key:")
	flipped := []byte(sig)
	flipped[10] ^= 1
	tests := []struct {
		name string
		auth string
		args [4]string // key, socketID, channel, channelData for the verify call
	}{
		{"wrong key", "other:" + sig, [4]string{"key", socketID, channel, data}},
		{"key prefix", "ke:" + sig, [4]string{"key", socketID, channel, data}},
		{"wrong signature", "key:" + string(flipped), [4]string{"key", socketID, channel, data}},
		{"truncated signature", good[:len(good)-1], [4]string{"key", socketID, channel, data}},
		{"extra byte", good + "0", [4]string{"key", socketID, channel, data}},
		{"upper-case hex", "key:" + strings.ToUpper(sig), [4]string{"key", socketID, channel, data}},
		{"missing colon", "key" + sig, [4]string{"key", socketID, channel, data}},
		{"signature only", sig, [4]string{"key", socketID, channel, data}},
		{"empty", "", [4]string{"key", socketID, channel, data}},
		{"colon only", ":", [4]string{"key", socketID, channel, data}},
		{"two colons", "key::" + sig, [4]string{"key", socketID, channel, data}},
		{"other socket", good, [4]string{"key", "1.3", channel, data}},
		{"other channel", good, [4]string{"key", socketID, "presence-b", data}},
		{"other channel data", good, [4]string{"key", socketID, channel, `{"user_id":"v"}`}},
		{"channel data dropped", good, [4]string{"key", socketID, channel, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if VerifyChannelAuth(tt.args[0], "secret", tt.args[1], tt.args[2], tt.args[3], tt.auth) {
				t.Fatalf("accepted %q", tt.auth)
			}
		})
	}
	if VerifyChannelAuth("key", "other-secret", socketID, channel, data, good) {
		t.Fatal("accepted a signature made with another secret")
	}
	if !VerifyChannelAuth("key", "secret", socketID, channel, data, good) {
		t.Fatal("rejected the good signature")
	}
}

func TestValidSocketID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"1234.1234", true},
		{"1.2", true},
		{"0.0", true},
		{"123456789012345678.987654321098765432", true},
		{strings.Repeat("1", 32) + "." + strings.Repeat("2", 31), true},
		{strings.Repeat("1", 32) + "." + strings.Repeat("2", 32), false},
		{"", false},
		{".", false},
		{"1.", false},
		{".1", false},
		{"12", false},
		{"1.2.3", false},
		{"1..2", false},
		{"a.1", false},
		{"1.b", false},
		{"-1.2", false},
		{" 1.2", false},
		{"1.2\n", false},
		{"１.２", false},
	}
	for _, tt := range tests {
		if got := ValidSocketID(tt.in); got != tt.want {
			t.Errorf("ValidSocketID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
