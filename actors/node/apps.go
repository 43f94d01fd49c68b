package node

import (
	"sync"
	"sync/atomic"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
)

// App is one app on this node: its settings as loaded (configs.App, never modified here) and the
// runtime state the node keeps beside them. Settings can be replaced while the node runs (a
// config reload); the state stays.
type App struct {
	ID      string
	Metrics *telemetry.AppMetrics // nil records nothing

	settings    atomic.Pointer[configs.App]
	connections atomic.Int64 // sockets of the app open on this node
}

// Settings are the app's current settings.
func (a *App) Settings() *configs.App { return a.settings.Load() }

// Connections is the number of the app's sockets open on this node.
func (a *App) Connections() int64 { return a.connections.Load() }

// AddConnections counts sockets opening (+) and closing (-) and returns the new count.
func (a *App) AddConnections(delta int64) int64 { return a.connections.Add(delta) }

// Apps finds apps by id and by key. Lookups read an immutable snapshot, so the hot path takes
// no lock; Update swaps in a new one.
type Apps struct {
	metrics *telemetry.Metrics
	mu      sync.Mutex // serialises Update
	snap    atomic.Pointer[appSnapshot]
	// known is every app this node has had, removed ones included: an id that comes back is the
	// same *App, so that an actor still holding it (a cache channel's grain) reads its settings.
	known map[string]*App
}

type appSnapshot struct {
	byID, byKey map[string]*App
}

// NewApps registers apps; metrics (nil for none) gives each its measurements.
func NewApps(apps []configs.App, metrics *telemetry.Metrics) *Apps {
	r := &Apps{metrics: metrics, known: map[string]*App{}}
	r.snap.Store(&appSnapshot{byID: map[string]*App{}, byKey: map[string]*App{}})
	r.Update(apps)
	return r
}

// ByID finds an app by its id.
func (r *Apps) ByID(id string) (*App, bool) { a, ok := r.snap.Load().byID[id]; return a, ok }

// ByKey finds an app by its public key.
func (r *Apps) ByKey(key string) (*App, bool) { a, ok := r.snap.Load().byKey[key]; return a, ok }

// All lists the apps.
func (r *Apps) All() []*App {
	s := r.snap.Load()
	out := make([]*App, 0, len(s.byID))
	for _, a := range s.byID {
		out = append(out, a)
	}
	return out
}

// Update makes apps the node's apps: an app whose id is known keeps its runtime state and takes
// the new settings; a new id is added; an id no longer listed is no longer found (the transport
// closes its open sockets: see transport.Server.UpdateApps).
func (r *Apps) Update(apps []configs.App) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := &appSnapshot{byID: make(map[string]*App, len(apps)), byKey: make(map[string]*App, len(apps))}
	for i := range apps {
		settings := apps[i] // a copy: the caller's slice may change
		a, ok := r.known[settings.ID]
		if !ok {
			a = &App{ID: settings.ID, Metrics: r.metrics.App(settings.ID)}
			r.known[a.ID] = a
		}
		a.settings.Store(&settings)
		next.byID[a.ID] = a
		next.byKey[settings.Key] = a
	}
	r.snap.Store(next)
}
