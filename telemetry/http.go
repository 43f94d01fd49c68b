package telemetry

import (
	"net/http"
	"time"
)

// WrapHTTP wraps an HTTP API handler with its server span (continuing the request's
// traceparent; the handler's r.Context() carries the span, so telemetry.Inject(ctx) passes it
// on) and with herald_http_requests_total and herald_http_request_duration_seconds. route is
// the pattern; empty, the ServeMux pattern that matched is used, so register the wrapped
// handler on the mux itself. The app id comes from the path value "app". Do not wrap the
// WebSocket endpoint: its connection outlives the request. A nil *Telemetry returns h.
func (t *Telemetry) WrapHTTP(route string, h http.Handler) http.Handler {
	if t == nil || (!t.TracingEnabled() && t.metrics == nil) {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := route
		if rt == "" {
			rt = routeOf(r)
		}
		ctx, span := t.StartHTTPServerSpan(r, rt)
		sw := &statusWriter{ResponseWriter: w}
		if t.TracingEnabled() {
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		EndHTTPServerSpan(span, status)
		t.metrics.RecordHTTPRequest(rt, status, time.Since(start))
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
