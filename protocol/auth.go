package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Sign returns hex(HMAC-SHA256(secret, message)), the signature used throughout the protocol.
func Sign(secret, message string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

// ChannelAuthString is what a channel subscription signs: socket_id:channel[:channel_data].
func ChannelAuthString(socketID, channel, channelData string) string {
	if channelData == "" {
		return socketID + ":" + channel
	}
	return socketID + ":" + channel + ":" + channelData
}

// UserAuthString is what a user sign-in signs: socket_id::user::user_data.
func UserAuthString(socketID, userData string) string {
	return socketID + "::user::" + userData
}

// ChannelAuth returns the "key:signature" a client sends to subscribe to a channel.
func ChannelAuth(key, secret, socketID, channel, channelData string) string {
	return key + ":" + Sign(secret, ChannelAuthString(socketID, channel, channelData))
}

// UserAuth returns the "key:signature" a client sends with pusher:signin.
func UserAuth(key, secret, socketID, userData string) string {
	return key + ":" + Sign(secret, UserAuthString(socketID, userData))
}

// VerifyChannelAuth checks a subscription's auth string in constant time.
func VerifyChannelAuth(key, secret, socketID, channel, channelData, auth string) bool {
	return verifyKeyed(key, secret, ChannelAuthString(socketID, channel, channelData), auth)
}

// VerifyUserAuth checks a sign-in's auth string in constant time.
func VerifyUserAuth(key, secret, socketID, userData, auth string) bool {
	return verifyKeyed(key, secret, UserAuthString(socketID, userData), auth)
}

func verifyKeyed(key, secret, message, auth string) bool {
	gotKey, gotSig, ok := strings.Cut(auth, ":")
	want := Sign(secret, message)
	keyOK := hmac.Equal([]byte(gotKey), []byte(key))
	sigOK := hmac.Equal([]byte(gotSig), []byte(want))
	return ok && keyOK && sigOK
}

// ValidSocketID reports whether s has the protocol's socket id shape: digits.digits.
func ValidSocketID(s string) bool {
	dot := strings.IndexByte(s, '.')
	if dot <= 0 || dot == len(s)-1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != dot && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}
