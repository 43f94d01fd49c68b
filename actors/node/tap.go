package node

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"
)

// Kinds of console events: what the debug console shows, one line each.
const (
	EventConnectionOpened = "connection_opened" // SocketID, Origin
	EventConnectionClosed = "connection_closed" // SocketID, Code, Message (the reason)
	EventSubscribed       = "subscribed"        // SocketID, Channel, UserID (presence)
	EventUnsubscribed     = "unsubscribed"      // SocketID, Channel
	EventOccupied         = "occupied"          // Channel
	EventVacated          = "vacated"           // Channel
	EventMemberAdded      = "member_added"      // Channel, UserID
	EventMemberRemoved    = "member_removed"    // Channel, UserID
	EventAPIMessage       = "api_message"       // Channel, Event, Data, Size, TraceID, Count (subscribers)
	EventClientEvent      = "client_event"      // Channel, Event, Data, Size, SocketID (the sender), UserID
	EventWebhook          = "webhook"           // Event (the types), Target, Status, Attempt, Message (an error)
	EventError            = "error"             // SocketID, Channel (if any), Code, Message: an error sent to a client
)

// Event is one thing that happened to an app, as the debug console shows it.
type Event struct {
	Kind     string `json:"kind"`
	AtMillis int64  `json:"at"` // unix milliseconds on the node's clock; Record sets it
	SocketID string `json:"socket_id,omitempty"`
	Channel  string `json:"channel,omitempty"`
	Event    string `json:"event,omitempty"`
	Data     string `json:"data,omitempty"` // at most DataPreviewBytes of it
	Size     int    `json:"size,omitempty"` // the whole data's size in bytes
	UserID   string `json:"user_id,omitempty"`
	Origin   string `json:"origin,omitempty"`
	Code     int    `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
	TraceID  string `json:"trace_id,omitempty"`
	Target   string `json:"target,omitempty"`
	Status   int    `json:"status,omitempty"`
	Attempt  int    `json:"attempt,omitempty"`
	Count    int    `json:"count"`
}

// Bounds of what a node keeps for the console.
const (
	// DataPreviewBytes is how much of an event's data a console line carries.
	DataPreviewBytes = 2048
	// tapPendingMax is how many events of one app a node holds for the watching consoles while
	// they take the previous batch; beyond it events are dropped and counted.
	tapPendingMax = 1024
)

// Tap records what happens to the apps that a debug console watches, anywhere in the cluster.
// While no console watches any app, Watched costs one atomic load and nothing is recorded: call
// sites check it before they build an Event. Record never blocks: a node holds at most
// tapPendingMax events per app until the console actor takes them, and counts what it drops.
// A nil *Tap watches nothing.
type Tap struct {
	watching atomic.Int32                       // apps watched: 0 makes Watched one load
	apps     atomic.Pointer[map[string]*tapApp] // replaced whole under mu
	mu       sync.Mutex
	clock    atomic.Pointer[clockwork.Clock]
	wake     atomic.Pointer[func(appID string)]
}

type tapApp struct {
	mu        sync.Mutex
	pending   []Event
	dropped   int64
	scheduled bool // the console actor was woken and has not yet found the buffer empty
}

// NewTap makes a tap that watches nothing yet.
func NewTap() *Tap {
	t := &Tap{}
	t.apps.Store(&map[string]*tapApp{})
	return t
}

// Attach gives the tap the node's clock and what wakes the console actor when an app's buffer
// gets its first event. The console actor calls it once as it starts.
func (t *Tap) Attach(clock clockwork.Clock, wake func(appID string)) {
	t.clock.Store(&clock)
	t.wake.Store(&wake)
}

// Watched reports whether some console watches appID, so that its events should be recorded.
func (t *Tap) Watched(appID string) bool {
	if t == nil || t.watching.Load() == 0 {
		return false
	}
	_, ok := (*t.apps.Load())[appID]
	return ok
}

// Record keeps ev for the consoles watching appID; it does nothing for an app not watched.
func (t *Tap) Record(appID string, ev Event) {
	if t == nil {
		return
	}
	a := (*t.apps.Load())[appID]
	if a == nil {
		return
	}
	if c := t.clock.Load(); c != nil {
		ev.AtMillis = (*c).Now().UnixMilli()
	}
	a.mu.Lock()
	if len(a.pending) >= tapPendingMax {
		a.dropped++
		a.mu.Unlock()
		return
	}
	a.pending = append(a.pending, ev)
	wake := !a.scheduled
	a.scheduled = true
	a.mu.Unlock()
	if w := t.wake.Load(); wake && w != nil {
		(*w)(appID)
	}
}

// SetWatched starts (true) or stops recording appID's events; stopping drops what is held.
func (t *Tap) SetWatched(appID string, on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.apps.Load()
	if _, ok := old[appID]; ok == on {
		return
	}
	next := make(map[string]*tapApp, len(old)+1)
	for id, a := range old {
		next[id] = a
	}
	if on {
		next[appID] = &tapApp{}
		t.watching.Add(1)
	} else {
		delete(next, appID)
		t.watching.Add(-1)
	}
	t.apps.Store(&next)
}

// Take removes up to max of appID's held events, oldest first, with the number dropped since
// the last Take. When nothing is left it returns none, and the next Record wakes the console
// actor again.
func (t *Tap) Take(appID string, max int) (events []Event, dropped int64) {
	a := (*t.apps.Load())[appID]
	if a == nil {
		return nil, 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := min(max, len(a.pending))
	if n == 0 && a.dropped == 0 {
		a.scheduled = false
		return nil, 0
	}
	events = make([]Event, n)
	copy(events, a.pending)
	rest := copy(a.pending, a.pending[n:])
	clear(a.pending[rest:])
	a.pending = a.pending[:rest]
	dropped, a.dropped = a.dropped, 0
	return events, dropped
}

// DataPreview is the start of an event's data that a console line shows: at most
// DataPreviewBytes, cut on a character boundary.
func DataPreview(data []byte) string {
	if len(data) <= DataPreviewBytes {
		return string(data)
	}
	cut := DataPreviewBytes
	for cut > 0 && !utf8.RuneStart(data[cut]) {
		cut--
	}
	return string(data[:cut])
}
