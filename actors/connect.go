package actors

import (
	"encoding/json"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/connection"
	"github.com/herald-io/herald/actors/messages"
)

// Connection is the transport's handle on a socket's connection actor.
type Connection struct {
	pid      *actor.PID
	socketID string
	root     *actor.RootContext
}

// Connect admits a socket for app and starts its connection actor. It fails with ErrOverQuota
// when the app has its maximum of connections, counted across the cluster.
func (e *Engine) Connect(app *App, sink Sink) (*Connection, error) {
	n := app.AddConnections(1)
	if limit := app.Settings().Limits.MaxConnections; limit > 0 && n+e.remote.Of(app.ID) > int64(limit) {
		app.AddConnections(-1)
		return nil, ErrOverQuota
	}
	socketID := e.socketPrefix + "." + strconv.FormatUint(e.socketSeq.Add(1), 10)
	pid := connection.Start(e.n, app, socketID, sink)
	return &Connection{pid: pid, socketID: socketID, root: e.system.Root}, nil
}

// SocketID is the socket's Pusher socket id.
func (c *Connection) SocketID() string { return c.socketID }

// Subscribe is the socket's pusher:subscribe.
func (c *Connection) Subscribe(channel, auth, channelData string) {
	c.root.Send(c.pid, &messages.ClientSubscribe{Channel: channel, Auth: auth, ChannelData: channelData})
}

// Unsubscribe is the socket's pusher:unsubscribe.
func (c *Connection) Unsubscribe(channel string) {
	c.root.Send(c.pid, &messages.ClientUnsubscribe{Channel: channel})
}

// ClientEvent is a client- event the socket sends to a channel.
func (c *Connection) ClientEvent(event, channel string, data json.RawMessage) {
	c.root.Send(c.pid, &messages.ClientEvent{Event: event, Channel: channel, Data: data})
}

// Signin is the socket's pusher:signin.
func (c *Connection) Signin(auth, userData string) {
	c.root.Send(c.pid, &messages.ClientSignin{Auth: auth, UserData: userData})
}

// Closed tells the actor the socket is gone: it leaves its channels and stops.
func (c *Connection) Closed() { c.root.Send(c.pid, &messages.SocketClosed{}) }
