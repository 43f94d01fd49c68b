package appsource

import (
	"bytes"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-io/herald/configs"
)

// waitTimeout bounds every wait for something that should happen; only a failing test reaches it.
const waitTimeout = 20 * time.Second

// recorder is the node as Set and Postgres see it: the apps applied, the metrics, the log.
type recorder struct {
	mu      sync.Mutex
	applied []map[string]configs.App
	up      []bool
	errors  int
	file    int
	db      int
	changed chan struct{}
	logs    lockedBuffer
}

func newRecorder() *recorder {
	r := &recorder{changed: make(chan struct{}, 1)}
	r.logs.written = r.notify
	return r
}

func (r *recorder) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (r *recorder) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) apply(apps []configs.App) {
	m := map[string]configs.App{}
	for _, a := range apps {
		m[a.ID] = a
	}
	r.mu.Lock()
	r.applied = append(r.applied, m)
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) SetApps(file, db int) {
	r.mu.Lock()
	r.file, r.db = file, db
	r.mu.Unlock()
}

func (r *recorder) SetAppsDatabaseUp(up bool) {
	r.mu.Lock()
	r.up = append(r.up, up)
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) AddAppsDatabaseError() {
	r.mu.Lock()
	r.errors++
	r.mu.Unlock()
	r.notify()
}

// latest is the apps last applied (nil before any).
func (r *recorder) latest() map[string]configs.App {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		return nil
	}
	return r.applied[len(r.applied)-1]
}

func (r *recorder) applies() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

func (r *recorder) ups() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.up)
}

// waitFor waits until cond holds, checking after every change the recorder sees.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for !cond() {
		select {
		case <-r.changed:
		case <-deadline:
			r.mu.Lock()
			last := "none"
			if n := len(r.applied); n > 0 {
				last = strings.Join(slices.Sorted(maps.Keys(r.applied[n-1])), ",")
			}
			r.mu.Unlock()
			t.Fatalf("timed out waiting for %s; apps last applied: %s; log:\n%s", what, last, r.logs.String())
		}
	}
}

// waitApps waits until the apps applied satisfy cond.
func (r *recorder) waitApps(t *testing.T, what string, cond func(map[string]configs.App) bool) {
	t.Helper()
	r.waitFor(t, what, func() bool { return cond(r.latest()) })
}

// lockedBuffer is the log; each line is a change the recorder's waits see.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written func()
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.b.Write(p)
	l.mu.Unlock()
	if l.written != nil {
		l.written()
	}
	return n, err
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count is how many log lines have msg="...msg..." in them.
func (l *lockedBuffer) count(msg string) int {
	return strings.Count(l.String(), `msg="`+msg)
}

// testConfig is the default config reading apps from dsn.
func testConfig(dsn, refresh string) *configs.Config {
	cfg := configs.Default()
	cfg.AppsDatabase.DSN, cfg.AppsDatabase.Refresh = dsn, refresh
	return cfg
}
