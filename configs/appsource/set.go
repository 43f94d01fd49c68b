package appsource

import (
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/herald-io/herald/configs"
)

// Metrics are the measurements of the app sources; *telemetry.Metrics implements them.
type Metrics interface {
	SetApps(file, database int)
	SetAppsDatabaseUp(up bool)
	AddAppsDatabaseError()
}

// Set is a node's apps from both sources: the config file's, and the database's beside them.
// The file's apps win a clash: a database app whose id or key a file app has is left out, with
// a warning, so that no row can take over an app the operator configured.
type Set struct {
	apply   func([]configs.App)
	log     *slog.Logger
	metrics Metrics

	mu      sync.Mutex // serialises changes: a reload and the database's changes may meet
	file    []configs.App
	db      []configs.App // valid rows, by id
	applied map[string]configs.App
	clashes string // the clashes last warned about
}

// NewSet starts from the file's apps, which the node already serves. apply gives the node a
// new list of apps (transport.Server.UpdateApps); it is called with Set's lock held, one change
// at a time.
func NewSet(file []configs.App, apply func([]configs.App), log *slog.Logger, metrics Metrics) *Set {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = noMetrics{}
	}
	s := &Set{apply: apply, log: log, metrics: metrics, file: file, applied: map[string]configs.App{}}
	for _, a := range file {
		s.applied[a.ID] = a
	}
	metrics.SetApps(len(file), 0)
	return s
}

// Change is what one update did, by app id.
type Change struct {
	Added, Changed, Removed []string
}

// Empty reports whether nothing changed.
func (c Change) Empty() bool { return len(c.Added)+len(c.Changed)+len(c.Removed) == 0 }

// LogAttrs describe the change in a log line: counts, and the ids of a small change.
func (c Change) LogAttrs() []any {
	attrs := []any{"added", len(c.Added), "changed", len(c.Changed), "removed", len(c.Removed)}
	const most = 20
	for _, l := range []struct {
		name string
		ids  []string
	}{{"added_ids", c.Added}, {"changed_ids", c.Changed}, {"removed_ids", c.Removed}} {
		switch {
		case len(l.ids) == 0:
		case len(l.ids) <= most:
			attrs = append(attrs, l.name, strings.Join(l.ids, ","))
		default:
			attrs = append(attrs, l.name, strings.Join(l.ids[:most], ",")+",...")
		}
	}
	return attrs
}

// SetFile replaces the file's apps (a reload) and applies the result.
func (s *Set) SetFile(apps []configs.App) Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.file = apps
	return s.update()
}

// SetDatabase replaces the database's apps and applies the result.
func (s *Set) SetDatabase(apps []configs.App) Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db = apps
	return s.update()
}

// update merges the sources and gives the node the result, when it differs from the last.
func (s *Set) update() Change {
	merged := slices.Clone(s.file)
	ids, keys := map[string]bool{}, map[string]string{}
	for _, a := range s.file {
		ids[a.ID], keys[a.Key] = true, a.ID
	}
	var clashes []string
	fromDB := 0
	for _, a := range s.db {
		switch {
		case ids[a.ID]:
			clashes = append(clashes, a.ID+" (id taken)")
		case keys[a.Key] != "":
			clashes = append(clashes, a.ID+" (key taken by "+keys[a.Key]+")")
		default:
			ids[a.ID], keys[a.Key] = true, a.ID
			merged = append(merged, a)
			fromDB++
		}
	}
	if c := strings.Join(clashes, ", "); c != s.clashes {
		s.clashes = c
		if c != "" {
			s.log.Warn("apps database: rows left out, their id or key is another app's (the config file's apps win)", "rows", c)
		}
	}

	var ch Change
	next := make(map[string]configs.App, len(merged))
	for _, a := range merged {
		next[a.ID] = a
		old, ok := s.applied[a.ID]
		switch {
		case !ok:
			ch.Added = append(ch.Added, a.ID)
		case !reflect.DeepEqual(old, a):
			ch.Changed = append(ch.Changed, a.ID)
		}
	}
	for id := range s.applied {
		if _, ok := next[id]; !ok {
			ch.Removed = append(ch.Removed, id)
		}
	}
	slices.Sort(ch.Added)
	slices.Sort(ch.Changed)
	slices.Sort(ch.Removed)
	s.metrics.SetApps(len(s.file), fromDB)
	if ch.Empty() {
		return ch
	}
	s.applied = next
	s.apply(merged)
	return ch
}
