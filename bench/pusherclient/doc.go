// Package pusherclient is a small Pusher Channels (protocol 7) client for tests and the bench
// harness: a WebSocket client that connects, subscribes, signs in and reads frames in order, the
// channel and user signatures an app's auth endpoint would produce, and a signed client of the
// HTTP API. It speaks only the public protocol, so it can target herald or any other Pusher server,
// and it imports nothing of herald but the protocol package.
package pusherclient
