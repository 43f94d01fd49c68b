package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/protocol"
)

// apiError is an HTTP API failure: a real status and a JSON {"error": message} body.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, message: fmt.Sprintf(format, args...)}
}

func (s *Server) routeAPI(mux *http.ServeMux) {
	routes := []struct {
		pattern string
		handler func(context.Context, *apiRequest) (any, *apiError)
	}{
		{"POST /apps/{app}/events", s.triggerEvents},
		{"POST /apps/{app}/batch_events", s.triggerBatch},
		{"GET /apps/{app}/channels", s.listChannels},
		{"GET /apps/{app}/channels/{channel}", s.channelInfo},
		{"GET /apps/{app}/channels/{channel}/users", s.channelUsers},
		{"POST /apps/{app}/users/{user}/terminate_connections", s.terminateUser},
	}
	for _, r := range routes {
		// WrapHTTP: a server span continuing the caller's traceparent, and the request metrics.
		mux.Handle(r.pattern, s.tel.WrapHTTP("", s.api(r.handler)))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isWebSocketUpgrade(r) {
			s.serveWebSocket(w, r) // any other path: upgrade and close with 4005, as Pusher does
			return
		}
		if r.URL.Path == "/" {
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found: " + r.URL.Path})
	})
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// apiRequest is a request that passed the signature check.
type apiRequest struct {
	*http.Request
	app  *actors.App
	body []byte
}

// api wraps a handler with the checks every HTTP API call has: the app exists (404), the
// signature holds (401), the app is enabled (403), the body is within limits (413).
func (s *Server) api(h func(context.Context, *apiRequest) (any, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			rec := &answerRecorder{ResponseWriter: w}
			w = rec
			defer func() { s.log.DebugContext(r.Context(), "http api", rec.attrs(r)...) }()
		}
		app, ok := s.engine.AppByID(r.PathValue("app"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown app id " + r.PathValue("app")})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes(app)))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body too large"})
				return
			}
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "could not read body"})
			return
		}
		if err := s.verify(app, r, body); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		if !app.Settings().Enabled {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "app is disabled"})
			return
		}
		if r.Method == http.MethodGet && !s.rates.of(app).allowRead(s.clock.Now()) {
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "over the app's read requests per second"})
			return
		}
		res, apiErr := h(r.Context(), &apiRequest{Request: r, app: app, body: body})
		if apiErr != nil {
			writeJSON(w, apiErr.status, map[string]string{"error": apiErr.message})
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// verify checks the signature against the decoded path, and against the path as sent when a
// client signed it percent-encoded.
func (s *Server) verify(app *actors.App, r *http.Request, body []byte) error {
	settings := app.Settings()
	q := r.URL.Query()
	now := s.clock.Now()
	err := protocol.VerifyHTTPRequest(settings.Key, settings.Secret, r.Method, r.URL.Path, q, body, now, protocol.HTTPTimestampWindow)
	if errors.Is(err, protocol.ErrAuthSignature) && r.URL.RawPath != "" {
		err = protocol.VerifyHTTPRequest(settings.Key, settings.Secret, r.Method, r.URL.EscapedPath(), q, body, now, protocol.HTTPTimestampWindow)
	}
	return err
}

// maxBodyBytes allows a full batch of maximal events, with room for names and channels.
func maxBodyBytes(app *actors.App) int64 {
	l := app.Settings().Limits
	perEvent := 2*l.MaxEventDataSize + l.MaxEventNameLength + l.MaxChannelsPerEvent*(l.MaxChannelNameLength+4) + 1024
	return int64(max(l.MaxBatchEvents, 1)*perEvent + 64*1024)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// answerRecorder keeps the status of an HTTP API answer and, for a refusal, its short JSON
// error, for the debug line of the call.
type answerRecorder struct {
	http.ResponseWriter
	status  int
	refusal []byte
}

func (a *answerRecorder) WriteHeader(status int) {
	a.status = status
	a.ResponseWriter.WriteHeader(status)
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	if a.status >= 400 && len(a.refusal) < 512 {
		a.refusal = append(a.refusal, b[:min(len(b), 512-len(a.refusal))]...)
	}
	return a.ResponseWriter.Write(b)
}

func (a *answerRecorder) attrs(r *http.Request) []any {
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", a.status, "remote", r.RemoteAddr}
	if len(a.refusal) > 0 {
		attrs = append(attrs, "answer", strings.TrimSpace(string(a.refusal)))
	}
	return attrs
}
