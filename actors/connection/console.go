package connection

import "github.com/herald-io/herald/actors/node"

// record tells the debug console what happened to this socket, when a console watches the app.
func (c *Connection) record(ev node.Event) {
	if c.n.Tap.Watched(c.app.ID) {
		ev.SocketID = c.socketID
		c.n.Tap.Record(c.app.ID, ev)
	}
}
