package transport

import (
	"strconv"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herald-io/herald/actors"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

// apiError is an HTTP API failure: a real status and a JSON {"error": message} body, with a
// Retry-After header when the caller should try again later.
type apiError struct {
	status     int
	message    string
	retryAfter time.Duration
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

// api wraps a handler with the checks every HTTP API call has, cheapest first: the app exists
// (404), the signature holds (401: checked before the body is read, since it covers body_md5),
// the app is enabled (403), the body arrives within read_timeout (408) and its limit (413) and
// matches body_md5 (401), and the read rate allows a GET (429).
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
		settings := app.Settings()
		query := r.URL.Query()
		if err := s.verify(settings, r, query); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		if r.ContentLength > 0 && !query.Has("body_md5") {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": protocol.ErrAuthBodyMD5.Error()})
			return
		}
		if !settings.Enabled {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "app is disabled"})
			return
		}
		body, apiErr := s.readBody(w, r, app)
		if apiErr != nil {
			writeJSON(w, apiErr.status, map[string]string{"error": apiErr.message})
			return
		}
		if err := protocol.VerifyBodyMD5(query, body); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		if r.Method == http.MethodGet && !s.rates.of(app).allowRead(s.clock.Now()) {
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "over the app's read requests per second"})
			return
		}
		res, apiErr := h(r.Context(), &apiRequest{Request: r, app: app, body: body})
		if apiErr != nil {
			if apiErr.retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(max(apiErr.retryAfter.Round(time.Second), time.Second)/time.Second)))
			}
			writeJSON(w, apiErr.status, map[string]string{"error": apiErr.message})
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// readBody reads the body within read_timeout (a socket deadline: the real clock) and the app's
// size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, app *actors.App) ([]byte, *apiError) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes(app)))
	var tooBig *http.MaxBytesError
	var timeout net.Error
	switch {
	case err == nil:
		return body, nil
	case errors.As(err, &tooBig):
		return nil, errorf(http.StatusRequestEntityTooLarge, "request body too large")
	case errors.As(err, &timeout) && timeout.Timeout():
		return nil, errorf(http.StatusRequestTimeout, "the body did not arrive within %v", s.cfg.ReadTimeout)
	}
	return nil, errorf(http.StatusBadRequest, "could not read body")
}

// verify checks the signature (not the body) against the decoded path, and against the path as
// sent when a client signed it percent-encoded.
func (s *Server) verify(settings *configs.App, r *http.Request, query url.Values) error {
	now := s.clock.Now()
	err := protocol.VerifyHTTPSignature(settings.Key, settings.Secret, r.Method, r.URL.Path, query, now, protocol.HTTPTimestampWindow)
	if errors.Is(err, protocol.ErrAuthSignature) && r.URL.RawPath != "" {
		err = protocol.VerifyHTTPSignature(settings.Key, settings.Secret, r.Method, r.URL.EscapedPath(), query, now, protocol.HTTPTimestampWindow)
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
