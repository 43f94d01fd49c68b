package configs

import (
	"slices"
	"strings"
	"testing"
)

func TestAppsDatabaseConfig(t *testing.T) {
	d := Default().AppsDatabase
	if d.Enabled() || d.Refresh != RefreshNotify || d.PollInterval <= 0 || d.RetryInterval <= 0 || d.Timeout <= 0 {
		t.Fatalf("default apps_database: %+v, want off, refresh notify, intervals set", d)
	}

	// With a database, the file may list no apps at all: every app can come from the database.
	p := writeFile(t, "apps: []\napps_database: {refresh: poll}\n")
	cfg, err := Load(p, []string{"HERALD_APPS_DATABASE__DSN=postgres://h@127.0.0.1/h"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 0 || cfg.AppsDatabase.DSN != "postgres://h@127.0.0.1/h" || cfg.AppsDatabase.Refresh != RefreshPoll {
		t.Fatalf("apps %d, apps_database %+v", len(cfg.Apps), cfg.AppsDatabase)
	}

	for _, c := range []struct{ yaml, want string }{
		{"apps: []", "no apps configured"},
		{"apps_database: {dsn: postgres://x, refresh: sometimes}", `apps_database.refresh "sometimes"`},
		{"apps_database: {dsn: postgres://x, poll_interval: 0s}", "apps_database.poll_interval 0s"},
		{"apps_database: {dsn: postgres://x, timeout: -1s}", "apps_database.timeout -1s"},
	} {
		if _, err := Load(writeFile(t, c.yaml), nil, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.yaml, err, c.want)
		}
	}
}

func TestRestartKeys(t *testing.T) {
	old := Default()
	next := Default()
	if keys := old.RestartKeys(next); len(keys) != 0 {
		t.Fatalf("the same config: %v", keys)
	}
	next.Apps[0].Secret = "rotated" // applied by a reload: not listed
	next.Apps = append(next.Apps, DefaultApp("b", "kb", "sb"))
	next.Listen = "127.0.0.1:7000"
	next.Cluster.Automanaged.Seeds = []string{"127.0.0.1:6331"}
	next.Telemetry.Traces.SampleRatio = 0.5
	next.AppsDatabase.DSN = "postgres://x"
	want := []string{"listen", "cluster.automanaged.seeds", "telemetry.traces.sample_ratio", "apps_database.dsn"}
	if keys := old.RestartKeys(next); !slices.Equal(keys, want) {
		t.Fatalf("RestartKeys = %v, want %v", keys, want)
	}
}
