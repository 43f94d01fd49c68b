package appsource

import (
	"slices"
	"strings"
	"testing"

	"github.com/herald-io/herald/configs"
)

func TestSetMerges(t *testing.T) {
	rec := newRecorder()
	a, b := configs.DefaultApp("a", "ka", "sa"), configs.DefaultApp("b", "kb", "sb")
	s := NewSet([]configs.App{a, b}, rec.apply, rec.logger(), rec)

	c := configs.DefaultApp("c", "kc", "sc")
	dbA := configs.DefaultApp("a", "ka-db", "s") // the file has id a
	dbD := configs.DefaultApp("d", "ka", "s")    // the file's a has key ka
	rows := []configs.App{dbA, c, dbD}
	ch := s.SetDatabase(rows)
	if !slices.Equal(ch.Added, []string{"c"}) || len(ch.Changed)+len(ch.Removed) != 0 {
		t.Fatalf("change %+v, want c added", ch)
	}
	got := rec.latest()
	if len(got) != 3 || got["a"].Key != "ka" || got["c"].Key != "kc" {
		t.Fatalf("applied %v, want the file's a and b, and c", got)
	}
	logs := rec.logs.String()
	if rec.logs.count("apps database: rows left out") != 1 || !strings.Contains(logs, "a (id taken)") || !strings.Contains(logs, "d (key taken by a)") {
		t.Fatalf("the clashes are not warned about as they should be:\n%s", logs)
	}
	if rec.file != 2 || rec.db != 1 {
		t.Errorf("herald_apps file=%d database=%d, want 2 and 1", rec.file, rec.db)
	}

	// The same again: nothing to apply, nothing to warn about again.
	if ch := s.SetDatabase(rows); !ch.Empty() || rec.applies() != 1 || rec.logs.count("apps database: rows left out") != 1 {
		t.Fatalf("an unchanged database: change %+v, %d applies, log:\n%s", ch, rec.applies(), rec.logs.String())
	}

	// A reload: a's secret rotated, b gone.
	a.Secret = "rotated"
	ch = s.SetFile([]configs.App{a})
	if !slices.Equal(ch.Changed, []string{"a"}) || !slices.Equal(ch.Removed, []string{"b"}) || len(ch.Added) != 0 {
		t.Fatalf("reload change %+v", ch)
	}
	if got := rec.latest(); len(got) != 2 || got["a"].Secret != "rotated" {
		t.Fatalf("applied %v", got)
	}

	// The file lets a go: the database's a and d now get in.
	ch = s.SetFile(nil)
	if !slices.Equal(ch.Added, []string{"d"}) || !slices.Equal(ch.Changed, []string{"a"}) {
		t.Fatalf("change %+v, want d added and a changed", ch)
	}
	if got := rec.latest(); len(got) != 3 || got["a"].Key != "ka-db" || got["d"].Key != "ka" {
		t.Fatalf("applied %v", got)
	}
	if rec.file != 0 || rec.db != 3 {
		t.Errorf("herald_apps file=%d database=%d, want 0 and 3", rec.file, rec.db)
	}
}

func TestChangeLogAttrs(t *testing.T) {
	var many []string
	for i := range 25 {
		many = append(many, string(rune('a'+i)))
	}
	attrs := Change{Added: many, Removed: []string{"x"}}.LogAttrs()
	want := []any{"added", 25, "changed", 0, "removed", 1, "added_ids", strings.Join(many[:20], ",") + ",...", "removed_ids", "x"}
	if !slices.Equal(attrs, want) {
		t.Fatalf("LogAttrs = %v, want %v", attrs, want)
	}
}
