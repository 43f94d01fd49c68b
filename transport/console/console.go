// Package console is herald's live debug console: a page at /console/ (plain HTML, JavaScript
// and CSS embedded in the binary, no build step) and its API under /console/api/, served on
// metrics_listen when console.enabled is true. The page shows, for the app picked, every
// member's connections, subscriptions, events, webhooks and errors as they happen (streamed as
// server-sent events from actors.Engine.Watch), its occupied channels with their counts and
// presence rosters, and an event creator that publishes as the HTTP API does.
//
// Every console URL takes the token as Authorization: Bearer TOKEN and answers 401 without it:
// the page itself then answers 401 with its login form and nothing else, and the API answers
// 401 with a JSON error. Nothing the console shows or answers holds an app secret.
package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/telemetry"
)

// Engine is what the console needs of the actors. *actors.Engine implements it.
type Engine interface {
	Apps() []*actors.App
	AppByID(id string) (*actors.App, bool)
	Watch(app *actors.App) *actors.ConsoleViewer
	Channels(ctx context.Context, app *actors.App, prefix string) ([]string, error)
	ChannelInfo(ctx context.Context, app *actors.App, channel string, withUsers bool) (*actors.ChannelInfo, error)
}

// Publisher publishes an event as the HTTP API does. *transport.Server implements it.
type Publisher interface {
	Trigger(ctx context.Context, app *actors.App, channel, event string, data json.RawMessage) error
}

// Deps are what the console uses besides its token.
type Deps struct {
	Engine    Engine
	Publisher Publisher
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
	// Node names this node on the page.
	Node string
}

// maxChannels bounds the channels view: each channel listed costs a question to its grain.
const maxChannels = 200

var (
	//go:embed page/index.html
	pageHTML string
	//go:embed page/console.js
	pageJS string
	//go:embed page/console.css
	pageCSS string
)

// Console serves the page and its API. Close ends the open streams.
type Console struct {
	deps      Deps
	tokenHash [sha256.Size]byte
	page      []byte
	csp       string
	mux       *http.ServeMux

	mu      sync.Mutex
	closed  bool
	streams map[chan struct{}]struct{}
}

// New makes the console of a node; token is console.token (configs.Validate checked it).
func New(token string, deps Deps) (*Console, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{deps: deps, tokenHash: sha256.Sum256([]byte(token)), streams: map[chan struct{}]struct{}{}}
	var page bytes.Buffer
	tmpl, err := template.New("console").Parse(pageHTML)
	if err != nil {
		return nil, err
	}
	// The script and the style are inlined: the page is one response, and the same answer (the
	// login form included) works without a token. The policy allows exactly them, by hash.
	if err := tmpl.Execute(&page, map[string]any{"Script": template.JS(pageJS), "Style": template.CSS(pageCSS)}); err != nil {
		return nil, err
	}
	c.page = page.Bytes()
	c.csp = "default-src 'none'; script-src '" + hashOf(pageJS) + "'; style-src '" + hashOf(pageCSS) +
		"'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

	c.mux = http.NewServeMux()
	c.mux.HandleFunc("GET /console/{$}", c.servePage)
	c.mux.HandleFunc("GET /console/api/apps", c.listApps)
	c.mux.HandleFunc("GET /console/api/apps/{app}/stream", c.stream)
	c.mux.HandleFunc("GET /console/api/apps/{app}/channels", c.channels)
	c.mux.Handle("POST /console/api/apps/{app}/events",
		deps.Telemetry.WrapHTTP("/console/api/apps/{app}/events", http.HandlerFunc(c.publish)))
	c.mux.HandleFunc("/console/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	return c, nil
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// ServeHTTP answers every /console/ URL; without the token, 401.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.URL.Path == "/console" {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
		return
	}
	if !c.authorized(r) {
		h.Set("WWW-Authenticate", `Bearer realm="herald console"`)
		if r.Method == http.MethodGet && r.URL.Path == "/console/" {
			c.writePage(w, http.StatusUnauthorized) // the login form: no data without the token
			return
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "console token required: Authorization: Bearer TOKEN"})
		return
	}
	c.mux.ServeHTTP(w, r)
}

// authorized compares the bearer token in constant time (of equal-length hashes, so that not
// even the token's length leaks).
func (c *Console) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(sum[:], c.tokenHash[:]) == 1
}

func (c *Console) servePage(w http.ResponseWriter, _ *http.Request) { c.writePage(w, http.StatusOK) }

func (c *Console) writePage(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", c.csp)
	w.WriteHeader(status)
	_, _ = w.Write(c.page)
}

// appView is an app as the console lists it: never its secret.
type appView struct {
	ID           string `json:"id"`
	Key          string `json:"key"`
	Enabled      bool   `json:"enabled"`
	ClientEvents bool   `json:"client_events"`
}

func (c *Console) listApps(w http.ResponseWriter, _ *http.Request) {
	out := []appView{}
	for _, a := range c.deps.Engine.Apps() {
		s := a.Settings()
		out = append(out, appView{ID: a.ID, Key: s.Key, Enabled: s.Enabled, ClientEvents: s.ClientEvents})
	}
	slices.SortFunc(out, func(a, b appView) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"node": c.deps.Node, "apps": out})
}

func (c *Console) app(w http.ResponseWriter, r *http.Request) (*actors.App, bool) {
	app, ok := c.deps.Engine.AppByID(r.PathValue("app"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown app id " + r.PathValue("app")})
	}
	return app, ok
}

// channelView is one occupied channel in the channels view.
type channelView struct {
	Name              string   `json:"name"`
	SubscriptionCount int64    `json:"subscription_count"`
	UserCount         int64    `json:"user_count,omitempty"`
	Users             []string `json:"users,omitempty"`
}

// channels lists the app's occupied channels across the cluster (the first maxChannels by
// name) with their counts and, for presence channels, their rosters.
func (c *Console) channels(w http.ResponseWriter, r *http.Request) {
	app, ok := c.app(w, r)
	if !ok {
		return
	}
	names, err := c.deps.Engine.Channels(r.Context(), app, "")
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	slices.Sort(names)
	total := len(names)
	names = names[:min(total, maxChannels)]
	out := make([]channelView, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			info, err := c.deps.Engine.ChannelInfo(r.Context(), app, name, strings.HasPrefix(name, "presence-"))
			if err != nil {
				errs[i] = err
				return
			}
			out[i] = channelView{Name: name, SubscriptionCount: info.SubscriptionCount, UserCount: info.UserCount, Users: info.UserIds}
			slices.Sort(out[i].Users)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out, "total": total})
}

// publish is the event creator: one event to one channel through the HTTP API's path.
func (c *Console) publish(w http.ResponseWriter, r *http.Request) {
	app, ok := c.app(w, r)
	if !ok {
		return
	}
	var body struct {
		Channel string          `json:"channel"`
		Event   string          `json:"event"`
		Data    json.RawMessage `json:"data"`
	}
	limit := int64(2*app.Settings().Limits.MaxEventDataSize + 64<<10)
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid body: " + err.Error()})
		return
	}
	if err := c.deps.Publisher.Trigger(r.Context(), app, body.Channel, body.Event, body.Data); err != nil {
		status := http.StatusServiceUnavailable
		var s interface{ HTTPStatus() int }
		if errors.As(err, &s) {
			status = s.HTTPStatus()
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// Close ends every open stream; new ones are refused. Call it before the metrics server's
// shutdown, which waits for them.
func (c *Console) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for done := range c.streams {
		close(done)
	}
	clear(c.streams)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
