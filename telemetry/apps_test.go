package telemetry

import "testing"

func TestAppSourceMetrics(t *testing.T) {
	tel := setupMetrics(t)
	m := tel.Metrics()
	if text := scrape(t, tel.Handler()); hasLine(text, "herald_apps_database_up ") {
		t.Error("herald_apps_database_up before any database: a node without one must not say it is down")
	}
	m.SetApps(2, 40)
	m.SetAppsDatabaseUp(true)
	m.SetAppsDatabaseUp(false)
	m.AddAppsDatabaseError()
	m.AddAppsDatabaseError()
	text := scrape(t, tel.Handler())
	for _, want := range []string{
		`# TYPE herald_apps gauge`,
		`herald_apps{source="file"} 2`,
		`herald_apps{source="database"} 40`,
		`# TYPE herald_apps_database_up gauge`,
		`herald_apps_database_up 0`,
		`# TYPE herald_apps_database_errors_total counter`,
		`herald_apps_database_errors_total 2`,
	} {
		if !hasLine(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
	var off *Metrics // metrics off: no-ops
	off.SetApps(1, 0)
	off.SetAppsDatabaseUp(true)
	off.AddAppsDatabaseError()
}
