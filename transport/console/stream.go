package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/herald-io/herald/actors"
)

// writeTimeout bounds each write to a stream: a browser that stops reading is dropped (its
// viewer's queue fills and counts what it does not get meanwhile). A socket deadline, on the
// real clock.
const writeTimeout = 10 * time.Second

// batchView is one SSE message: some events of one member, and how many events the page did
// not get since the previous message (dropped by a member or by this stream falling behind).
type batchView struct {
	Node     string                `json:"node"`
	Events   []actors.ConsoleEvent `json:"events"`
	NotShown int64                 `json:"not_shown"`
}

// stream serves the app's live events as server-sent events: "hello" once, then "batch"
// messages. The page reads it with fetch (EventSource cannot send the Authorization header).
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	app, ok := c.app(w, r)
	if !ok {
		return
	}
	done := make(chan struct{})
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "shutting down"})
		return
	}
	c.streams[done] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.streams, done)
		c.mu.Unlock()
	}()

	v := c.deps.Engine.Watch(app)
	defer v.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // a proxy in front must not hold events back
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	send := func(event string, v any) bool {
		buf.Reset()
		buf.WriteString("event: " + event + "\ndata: ")
		_ = json.NewEncoder(&buf).Encode(v) // ends with the newline; one more ends the message
		buf.WriteByte('\n')
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("hello", map[string]string{"node": c.deps.Node, "app": app.ID}) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-done:
			return
		case b, ok := <-v.Batches():
			if !ok || !send("batch", batchView{Node: b.Node, Events: b.Events, NotShown: b.Dropped + v.TakeLost()}) {
				return
			}
		}
	}
}
