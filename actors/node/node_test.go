package node

import (
	"fmt"
	"testing"

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
	r := NewRecentIDs(kept)
	if r.Seen("a") || !r.Seen("a") {
		t.Fatal("a repeat was not recognised")
	}
	if r.Seen("") || r.Seen("") {
		t.Fatal("an empty id is never a repeat")
	}
	for i := range kept {
		r.Seen(fmt.Sprint("id-", i))
	}
	if r.Seen("a") {
		t.Fatal("an id older than the window is still held")
	}
	if !r.Seen(fmt.Sprint("id-", kept-1)) || len(r.ids) != kept {
		t.Fatalf("the window holds %d ids, want %d", len(r.ids), kept)
	}
}
