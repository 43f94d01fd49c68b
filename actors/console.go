package actors

import (
	"github.com/herald-io/herald/actors/console"
	"github.com/herald-io/herald/actors/node"
)

// The debug console's types, for the transport.
type (
	// ConsoleViewer is one console open on this node: every member's events of one app.
	ConsoleViewer = console.Viewer
	// ConsoleBatch is some events of one app from one member.
	ConsoleBatch = console.Batch
	// ConsoleEvent is one line of the console.
	ConsoleEvent = node.Event
)

// Watch opens a debug console on app: from now on every member records the app's events and
// sends them to the viewer, until it is closed.
func (e *Engine) Watch(app *App) *ConsoleViewer {
	return console.Open(e.system.Root, e.console, app.ID)
}

// Apps lists the node's apps.
func (e *Engine) Apps() []*App { return e.n.Apps.All() }

// Tap is what the node records for the debug console.
func (e *Engine) Tap() *node.Tap { return e.n.Tap }

// NodeName is this node's name, as the console shows it beside each event.
func (e *Engine) NodeName() string { return console.NodeName(e.n) }
