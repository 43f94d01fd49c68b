package configs

import (
	"reflect"
	"strings"
	"testing"
)

// TestUnknownKeysStopTheStart: a key herald does not read, in the file or as a HERALD_*
// variable, is an error naming the key, where it came from and the key it most likely meant.
func TestUnknownKeysStopTheStart(t *testing.T) {
	checkRefusals(t, []loadCase{
		{"misspelt top-level key", "activty_timeout: 30s", nil,
			[]string{"config file ", "unknown key activty_timeout", "did you mean activity_timeout?"}},
		{"misspelt nested key", "log:\n  levle: debug", nil,
			[]string{"unknown key log.levle", "did you mean log.level?"}},
		{"misspelt app key", "apps:\n  - {id: a, key: k, secret: s, client_event: false}", nil,
			[]string{"unknown key apps[0].client_event", "did you mean apps[0].client_events?"}},
		{"app key at the top level", "client_events: false", nil,
			[]string{"unknown key client_events", "did you mean apps[].client_events?"}},
		{"misspelt webhook key", "apps:\n  - {id: a, key: k, secret: s, webhooks: [{ulr: 'http://127.0.0.1:9/'}]}", nil,
			[]string{"unknown key apps[0].webhooks[0].ulr", "did you mean apps[0].webhooks[0].url?"}},
		{"nothing near it", "zzzzzzzz: 1", nil,
			[]string{"unknown key zzzzzzzz", "known here: listen, activity_timeout"}},
		{"misspelt variable", "", []string{"HERALD_LISTN=127.0.0.1:7000"},
			[]string{"environment: unknown variable HERALD_LISTN", "did you mean HERALD_LISTEN?"}},
		{"one underscore for a level", "", []string{"HERALD_LOG_LEVEL=debug"},
			[]string{"unknown variable HERALD_LOG_LEVEL", "did you mean HERALD_LOG__LEVEL?"}},
		{"misspelt app variable", "", []string{"HERALD_APPS__0__SECRT=x"},
			[]string{"unknown variable HERALD_APPS__0__SECRT", "did you mean HERALD_APPS__0__SECRET?"}},
		{"a section as a variable", "", []string{"HERALD_LOG=debug"},
			[]string{"HERALD_LOG: log is a section: set one of its keys, e.g. HERALD_LOG__LEVEL"}},
		{"a list without an index", "", []string{"HERALD_APPS__KEY=k"},
			[]string{`"key" is not an index of apps`, "HERALD_APPS__<n>__KEY"}},
		{"a key below a value", "", []string{"HERALD_LISTEN__PORT=1"},
			[]string{"HERALD_LISTEN__PORT: listen is", "it has no key port"}},
		{"a single value for a section", "log: debug", nil,
			[]string{"log must be a section with the keys level, format"}},
		{"a section for a list", "apps: {id: a}", nil,
			[]string{"apps must be a list of sections (- id: ...), not a section"}},
		{"a list for a value", "listen: [a, b]", nil,
			[]string{"listen must be a string, not a list"}},
	})
}

// TestEveryUnknownKeyAtOnce: a user fixes every mistake in one go, not one per start.
func TestEveryUnknownKeyAtOnce(t *testing.T) {
	p := writeFile(t, "activty_timeout: 30s\nlog: {levle: debug}\n")
	_, err := Load(p, []string{"HERALD_LISTN=x", "HERALD_LOG__LEVEL=debug"}, nil)
	if err == nil {
		t.Fatal("loaded")
	}
	for _, w := range []string{"activty_timeout", "log.levle", "HERALD_LISTN"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

// TestBadValuesAreNamed: a value of the wrong kind is reported with the key, the value given,
// what the key takes, and where the value came from.
func TestBadValuesAreNamed(t *testing.T) {
	checkRefusals(t, []loadCase{
		{"duration", "activity_timeout: 5x", nil,
			[]string{`activity_timeout: "5x" is not a duration such as 500ms, 30s or 5m`, "(from config file "}},
		{"number in an app", "apps:\n  - {id: a, key: k, secret: s, limits: {max_connections: lots}}", nil,
			[]string{`apps[0].limits.max_connections: "lots" is not a whole number`}},
		{"boolean from the environment", "", []string{"HERALD_APPS__0__CLIENT_EVENTS=nope"},
			[]string{`apps[0].client_events: "nope" is not true or false (from HERALD_APPS__0__CLIENT_EVENTS)`}},
		{"float from the environment", "", []string{"HERALD_TELEMETRY__TRACES__SAMPLE_RATIO=half"},
			[]string{`telemetry.traces.sample_ratio: "half" is not a number (from HERALD_TELEMETRY__TRACES__SAMPLE_RATIO)`}},
		{"a rule broken in the file", "activity_timeout: 10ms", nil,
			[]string{"activity_timeout 10ms: must be at least 1s (from config file "}},
		{"a rule broken by a variable", "", []string{"HERALD_APPS__0__LIMITS__MAX_EVENT_DATA_SIZE=0"},
			[]string{"apps[0].limits.max_event_data_size 0: must be more than 0 (from HERALD_APPS__0__LIMITS__MAX_EVENT_DATA_SIZE)"}},
	})
	if _, err := Load("", nil, map[string]any{"listen": ""}); err == nil || !strings.Contains(err.Error(), "listen is empty (from --listen)") {
		t.Errorf("an empty --listen: %v", err)
	}
}

// TestEnvIndexesListsOfSections: a number after a key whose value is a list of sections indexes
// it, for an app's webhooks as for apps: HERALD_APPS__0__WEBHOOKS__0__URL sets the first
// target's url, over the file's targets or as a new one.
func TestEnvIndexesListsOfSections(t *testing.T) {
	cfg, err := Load("", []string{
		"HERALD_APPS__0__WEBHOOKS__0__URL=http://127.0.0.1:9/a",
		"HERALD_APPS__0__WEBHOOKS__0__EVENT_TYPES=channel_occupied,channel_vacated",
		"HERALD_APPS__0__WEBHOOKS__1__URL=http://127.0.0.1:9/b",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hooks := cfg.Apps[0].Webhooks
	if len(hooks) != 2 || hooks[0].URL != "http://127.0.0.1:9/a" || len(hooks[0].EventTypes) != 2 ||
		hooks[0].EventTypes[1] != "channel_vacated" || hooks[1].URL != "http://127.0.0.1:9/b" || len(hooks[1].EventTypes) != 0 {
		t.Fatalf("webhooks from the environment: %+v", hooks)
	}

	p := writeFile(t, `
apps:
  - id: a
    key: k
    secret: s
    webhooks:
      - url: http://127.0.0.1:9/file
        event_types: [member_added]
`)
	cfg, err = Load(p, []string{"HERALD_APPS__0__WEBHOOKS__0__URL=http://127.0.0.1:9/env", "HERALD_APPS__1__ID=b",
		"HERALD_APPS__1__KEY=kb", "HERALD_APPS__1__SECRET=sb", "HERALD_APPS__1__WEBHOOKS__0__URL=http://127.0.0.1:9/b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Apps[0]; len(a.Webhooks) != 1 || a.Webhooks[0].URL != "http://127.0.0.1:9/env" ||
		len(a.Webhooks[0].EventTypes) != 1 || a.Webhooks[0].EventTypes[0] != "member_added" {
		t.Fatalf("the variable must change the file's target's url only: %+v", a.Webhooks)
	}
	if len(cfg.Apps) != 2 || cfg.Apps[1].ID != "b" || len(cfg.Apps[1].Webhooks) != 1 || cfg.Apps[1].Limits != cfg.Apps[0].Limits {
		t.Fatalf("a second app from the environment: %+v", cfg.Apps)
	}
}

// TestEnvIndexBounded: an absurd index is refused rather than building a list that long.
func TestEnvIndexBounded(t *testing.T) {
	_, err := Load("", []string{"HERALD_APPS__99999999__KEY=k"}, nil)
	if err == nil || !strings.Contains(err.Error(), "is not an index of apps") {
		t.Fatalf("got %v", err)
	}
}

func TestEnvName(t *testing.T) {
	for path, want := range map[string]string{
		"listen":                  "HERALD_LISTEN",
		"log.level":               "HERALD_LOG__LEVEL",
		"apps[0].secret":          "HERALD_APPS__0__SECRET",
		"apps[2].webhooks[1].url": "HERALD_APPS__2__WEBHOOKS__1__URL",
		"apps[].client_events":    "HERALD_APPS__<n>__CLIENT_EVENTS",
	} {
		if got := envName(path); got != want {
			t.Errorf("envName(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestMapKeysAreFree: a map-valued key (none today; a section of user-chosen names, such as
// driver options) takes any names below it, and is still checked to be a section.
func TestMapKeysAreFree(t *testing.T) {
	type withMap struct {
		Options map[string]string `koanf:"options"`
	}
	schema := schemaOf(reflect.TypeFor[withMap]())
	tr := &tree{root: map[string]any{}, sources: map[string]string{}}
	if errs := tr.checkFile(map[string]any{"options": map[string]any{"anything": "x", "else": "y"}}, schema, "", "f"); len(errs) != 0 {
		t.Errorf("names below a map: %v", errs)
	}
	if errs := tr.checkFile(map[string]any{"options": "x"}, schema, "", "f"); len(errs) != 1 ||
		!strings.Contains(errs[0].Error(), "options must be a section of names and values") {
		t.Errorf("a single value for a map: %v", errs)
	}
}
