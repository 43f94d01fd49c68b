package actors

// Sink is one client socket as the actors see it. The transport implements it.
type Sink interface {
	// Send queues a frame for the socket and returns at once. Frames are shared between
	// recipients and must not be modified. A socket whose queue is over its limit closes itself.
	Send(frame []byte)
	// Close sends a close frame with a Pusher close code and closes the socket.
	Close(code int, reason string)
}
