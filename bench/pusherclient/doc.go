// Package pusherclient is a small, independent Pusher Channels (protocol 7) client for tests
// and the bench harness: a WebSocket client that connects, subscribes, signs in and reads frames
// in order, the channel and user signatures an app's auth endpoint would produce, and a signed
// client of the HTTP API.
//
// It imports nothing of herald: frames, event names and every signature (HMAC-SHA256 channel
// and user auth, the HTTP API's body_md5 and auth_signature) are its own, checked against the
// worked examples of Pusher's documentation. A signing or framing bug in a server therefore
// fails against this client instead of being shared by both sides.
package pusherclient
