package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/herald-io/herald/configs"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct{ app, name string }{{"app", "presence-x"}, {"app", ""}, {"a", "user\x00with nul"}} {
		if app, name := SplitKey(Key(tc.app, tc.name)); app != tc.app || name != tc.name {
			t.Errorf("SplitKey(Key(%q, %q)) = %q, %q", tc.app, tc.name, app, name)
		}
	}
}

func TestAppsUpdate(t *testing.T) {
	a := configs.DefaultApp("a", "ka", "sa")
	b := configs.DefaultApp("b", "kb", "sb")
	apps := NewApps([]configs.App{a, b}, nil)
	runA, ok := apps.ByKey("ka")
	if !ok || runA.ID != "a" || runA.Settings().Secret != "sa" {
		t.Fatalf("ByKey(ka) = %+v, %v", runA, ok)
	}
	runA.AddConnections(3)

	a.Secret, a.Key = "rotated", "ka2"
	c := configs.DefaultApp("c", "kc", "sc")
	apps.Update([]configs.App{a, c})
	if _, ok := apps.ByID("b"); ok {
		t.Fatal("a removed app is still found")
	}
	if _, ok := apps.ByKey("ka"); ok {
		t.Fatal("an app is still found by its old key")
	}
	again, ok := apps.ByKey("ka2")
	if !ok || again != runA || again.Settings().Secret != "rotated" || again.Connections() != 3 {
		t.Fatalf("a changed app must keep its state and take the new settings: %+v", again)
	}
	if _, ok := apps.ByID("c"); !ok || len(apps.All()) != 2 {
		t.Fatal("a new app is not found")
	}
}

// An app removed and added again is the same *App: an actor that kept it (a cache channel's
// grain outliving its sockets) must read the settings it came back with, not frozen old ones.
func TestAppsUpdateReaddedAppIsTheSame(t *testing.T) {
	a := configs.DefaultApp("a", "ka", "sa")
	apps := NewApps([]configs.App{a}, nil)
	first, _ := apps.ByID("a")
	apps.Update(nil)
	if _, ok := apps.ByID("a"); ok || len(apps.All()) != 0 {
		t.Fatal("a removed app is still found")
	}
	a.Secret = "back"
	apps.Update([]configs.App{a})
	again, ok := apps.ByID("a")
	if !ok || again != first || first.Settings().Secret != "back" {
		t.Fatalf("re-added app: same=%v secret=%q", again == first, first.Settings().Secret)
	}
}

func TestRecentIDs(t *testing.T) {
	const kept = 16
	const ttl = 30 * time.Second
	t0 := time.Now()
	r := NewRecentIDs(kept, ttl)
	if r.Seen("a", t0) || !r.Seen("a", t0) {
		t.Fatal("a repeat was not recognised")
	}
	if r.Seen("", t0) || r.Seen("", t0) {
		t.Fatal("an empty id is never a repeat")
	}
	for i := range kept {
		r.Seen(fmt.Sprint("id-", i), t0)
	}
	if r.Seen("a", t0) {
		t.Fatal("an id beyond the kept count is still held")
	}
	if !r.Seen(fmt.Sprint("id-", kept-1), t0) || r.Len() != kept || len(r.ids) != kept {
		t.Fatalf("holds %d ids (map %d), want %d", r.Len(), len(r.ids), kept)
	}
}

// An id is held for ttl, then let go; once none is left, a burst's map and queue go too.
func TestRecentIDsAge(t *testing.T) {
	const ttl = 30 * time.Second
	t0 := time.Now()
	r := NewRecentIDs(4096, ttl)
	for i := range 1000 { // a burst
		r.Seen(fmt.Sprint("burst-", i), t0)
	}
	if !r.Seen("burst-999", t0.Add(ttl)) {
		t.Fatal("an id seen exactly ttl ago is no longer held")
	}
	if r.Seen("late", t0.Add(ttl+time.Second)) || r.Seen("burst-0", t0.Add(ttl+time.Second)) {
		t.Fatal("an id older than ttl is still held")
	}
	if r.Len() != 2 || len(r.ids) != 2 {
		t.Fatalf("after the burst aged: %d ids (map %d), want the 2 seen since", r.Len(), len(r.ids))
	}
	r.Seen("x", t0.Add(3*ttl)) // everything before aged out
	if r.Len() != 1 || cap(r.queue) > recentShrinkAt {
		t.Fatalf("an emptied window kept %d ids and a queue of %d", r.Len(), cap(r.queue))
	}
	// A steady flow reuses its queue: it does not grow with the ids ever seen.
	for i := range 100_000 {
		r.Seen(fmt.Sprint("flow-", i), t0.Add(3*ttl+time.Duration(i)*time.Millisecond))
	}
	if held := r.Len(); held > 30_001 || cap(r.queue) > 4*4096 {
		t.Fatalf("a flow of 1,000 ids/s holds %d ids in a queue of %d", held, cap(r.queue))
	}
}

// Publish ids outlive every resend: 30 s, or twice a longer request_timeout.
func TestPublishIDsOutliveResends(t *testing.T) {
	for _, c := range []struct{ request, want time.Duration }{{0, 30 * time.Second}, {5 * time.Second, 30 * time.Second}, {40 * time.Second, 80 * time.Second}} {
		if got := (Timing{RequestTimeout: c.request}).PublishIDsFor(); got != c.want {
			t.Errorf("request_timeout %v: ids held %v, want %v", c.request, got, c.want)
		}
	}
}
