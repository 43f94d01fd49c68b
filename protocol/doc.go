// Package protocol is the Pusher Channels wire protocol (version 7), with no I/O and no state:
// frame decoding and encoding, event and channel names, channel kinds, the channel-auth, user
// sign-in and HTTP API signatures, the protocol's error and close codes, and Pusher's default
// limits. Everything in herald that speaks Pusher goes through here; the package imports nothing
// of herald, so the bench harness and the server share one definition of the protocol.
package protocol
