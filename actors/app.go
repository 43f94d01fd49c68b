package actors

import (
	"sync/atomic"
	"time"

	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// App is one Pusher app as the actors use it.
type App struct {
	ID                        string
	Key                       string
	Secret                    string
	Enabled                   bool
	ClientEvents              bool
	UserAuthentication        bool
	UserAuthenticationTimeout time.Duration
	Webhooks                  []Webhook
	Limits                    protocol.Limits
	// CacheTTL is how long a cache channel keeps its last event.
	CacheTTL time.Duration
	// SubscriptionCount turns on pusher_internal:subscription_count and its webhook.
	SubscriptionCount bool
	// Metrics records this app's measurements; set by NewEngine (nil records nothing).
	Metrics *telemetry.AppMetrics

	connections atomic.Int64 // sockets on this node
	webhooks    *webhooks    // this node's dispatcher; nil without targets
}

// Webhook is one webhook target of an app.
type Webhook struct {
	URL        string
	EventTypes []string
}

// Connections is the number of this app's sockets open on this node.
func (a *App) Connections() int64 { return a.connections.Load() }

// appRegistry finds apps by id and by key. It is fixed after start.
type appRegistry struct {
	byID  map[string]*App
	byKey map[string]*App
}

func newAppRegistry(apps []*App) *appRegistry {
	r := &appRegistry{byID: map[string]*App{}, byKey: map[string]*App{}}
	for _, a := range apps {
		r.byID[a.ID] = a
		r.byKey[a.Key] = a
	}
	return r
}
