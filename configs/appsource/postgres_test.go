package appsource

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/configs/appsource/pgtest"
)

// follow opens the database of cfg over the file apps, runs the follower until the test ends,
// and returns what the node saw.
func follow(t *testing.T, cfg *configs.Config, clock clockwork.Clock, file ...configs.App) (*Postgres, *recorder) {
	t.Helper()
	rec := newRecorder()
	set := NewSet(file, rec.apply, rec.logger(), rec)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Open(ctx, cfg, set, Deps{Logger: rec.logger(), Metrics: rec, Clock: clock})
	if err != nil {
		cancel()
		t.Fatalf("Open: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return p, rec
}

func has(id string, ok func(configs.App) bool) func(map[string]configs.App) bool {
	return func(apps map[string]configs.App) bool { a, found := apps[id]; return found && ok(a) }
}

func TestPostgresFollowsChanges(t *testing.T) {
	dsn := pgtest.Database(t)
	file := configs.DefaultApp("file", "file-key", "file-secret")
	_, rec := follow(t, testConfig(dsn, configs.RefreshNotify), clockwork.NewRealClock(), file)
	if rec.applies() != 0 {
		t.Fatal("an empty table changed the apps")
	}

	start := time.Now()
	pgtest.Exec(t, dsn, `INSERT INTO herald_apps (id, key, secret, options) VALUES ('1', 'k1', 's1', '{"client_events": false}')`)
	rec.waitApps(t, "app 1 added", has("1", func(a configs.App) bool { return a.Key == "k1" && !a.ClientEvents && a.Enabled }))
	t.Logf("a row inserted was applied after %v", time.Since(start))
	if _, ok := rec.latest()["file"]; !ok {
		t.Fatal("the file's app is gone")
	}

	pgtest.Exec(t, dsn, `UPDATE herald_apps SET secret = 's2' WHERE id = '1'`)
	rec.waitApps(t, "the secret rotated", has("1", func(a configs.App) bool { return a.Secret == "s2" }))

	// A bad edit keeps the app as it was, and says why.
	applies := rec.applies()
	pgtest.Exec(t, dsn, `UPDATE herald_apps SET options = '{"client_events": false, "limits": {"max_connectoins": 5}}' WHERE id = '1'`)
	rec.waitFor(t, "a warning about row 1", func() bool { return rec.logs.count("apps database: a row is not a valid app") == 1 })
	if !strings.Contains(rec.logs.String(), "max_connectoins") || !strings.Contains(rec.logs.String(), "kept_previous_settings=true") {
		t.Fatalf("the warning does not say what is wrong:\n%s", rec.logs.String())
	}
	pgtest.Exec(t, dsn, `UPDATE herald_apps SET options = '{"client_events": false, "limits": {"max_connections": 5}}' WHERE id = '1'`)
	rec.waitApps(t, "the fixed row", has("1", func(a configs.App) bool { return a.Limits.MaxConnections == 5 && a.Secret == "s2" }))
	if rec.applies() != applies+1 {
		t.Fatalf("%d applies for a bad edit and its fix, want 1", rec.applies()-applies)
	}

	pgtest.Exec(t, dsn, `UPDATE herald_apps SET enabled = false WHERE id = '1'`)
	rec.waitApps(t, "app 1 disabled", has("1", func(a configs.App) bool { return !a.Enabled }))

	// Keys swapped in one transaction arrive together, whatever the order of the notifications.
	pgtest.Exec(t, dsn, `INSERT INTO herald_apps (id, key, secret) VALUES ('2', 'k2', 's')`)
	rec.waitApps(t, "app 2 added", has("2", func(configs.App) bool { return true }))
	before := rec.applies()
	pgtest.Exec(t, dsn, `BEGIN; UPDATE herald_apps SET key = 'swap' WHERE id = '1'; UPDATE herald_apps SET key = 'k1' WHERE id = '2';
		UPDATE herald_apps SET key = 'k2' WHERE id = '1'; COMMIT`)
	rec.waitApps(t, "keys swapped", func(apps map[string]configs.App) bool {
		return apps["1"].Key == "k2" && apps["2"].Key == "k1"
	})
	rec.mu.Lock()
	for _, apps := range rec.applied[before:] {
		if _, ok := apps["1"]; !ok {
			t.Error("app 1 was taken away while its key was swapped")
		}
		if _, ok := apps["2"]; !ok {
			t.Error("app 2 was taken away while its key was swapped")
		}
	}
	rec.mu.Unlock()

	// The file's app wins a clash.
	pgtest.Exec(t, dsn, `INSERT INTO herald_apps (id, key, secret) VALUES ('3', 'file-key', 's')`)
	rec.waitFor(t, "a clash warning", func() bool { return rec.logs.count("apps database: rows left out") == 1 })
	if a := rec.latest()["file"]; a.Secret != "file-secret" {
		t.Fatalf("the file's app was changed by a row: %+v", a)
	}

	pgtest.Exec(t, dsn, `DELETE FROM herald_apps WHERE id = '1'`)
	rec.waitApps(t, "app 1 removed", func(apps map[string]configs.App) bool { _, ok := apps["1"]; return !ok })

	pgtest.Exec(t, dsn, `TRUNCATE herald_apps`)
	rec.waitApps(t, "every database app removed", func(apps map[string]configs.App) bool { return len(apps) == 1 })
	if rec.logs.count("apps changed in the database") == 0 {
		t.Errorf("no info line for the changes:\n%s", rec.logs.String())
	}
}

// refresh poll reads the table on the poll interval alone.
func TestPostgresPolls(t *testing.T) {
	dsn := pgtest.Database(t)
	clock := clockwork.NewFakeClock()
	cfg := testConfig(dsn, configs.RefreshPoll)
	_, rec := follow(t, cfg, clock)
	pgtest.Exec(t, dsn, `INSERT INTO herald_apps (id, key, secret) VALUES ('1', 'k1', 's1')`)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // the poll ticker
		t.Fatal(err)
	}
	if rec.applies() != 0 {
		t.Fatal("applied before the poll: poll mode must not listen")
	}
	clock.Advance(cfg.AppsDatabase.PollInterval)
	rec.waitApps(t, "app 1 read by the poll", has("1", func(configs.App) bool { return true }))
}

func TestPostgresSchema(t *testing.T) {
	dsn := pgtest.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	// Nodes that start at once take turns; applying it again changes nothing.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			conn, err := pgx.Connect(ctx, dsn)
			if err == nil {
				_, err = conn.Exec(ctx, SchemaSQL)
				_ = conn.Close(ctx)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("schema.sql applied by three at once: %v", err)
		}
	}
	pgtest.Exec(t, dsn, SchemaSQL)

	// A schema that is current is left alone: herald runs with a role that may only read.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	role := "herald_ro_" + strings.TrimPrefix(u.Path, "/herald_test_")
	pgtest.Exec(t, dsn, `CREATE ROLE `+role+` LOGIN; GRANT SELECT ON herald_apps TO `+role)
	t.Cleanup(func() { pgtest.Exec(t, dsn, `REVOKE ALL ON herald_apps FROM `+role+`; DROP ROLE `+role) })
	pgtest.Exec(t, dsn, `INSERT INTO herald_apps (id, key, secret) VALUES ('1', 'k1', 's1')`)
	u.User = url.User(role)
	roDSN := u.String()
	_, rec := follow(t, testConfig(roDSN, configs.RefreshNotify), clockwork.NewRealClock())
	if _, ok := rec.latest()["1"]; !ok || rec.logs.count("apps database schema applied") != 0 {
		t.Fatalf("read-only role: apps %v, log:\n%s", rec.latest(), rec.logs.String())
	}
}

// Open fails, saying where and never with the DSN's password, when the database is not there:
// a node must not start without the database's apps.
func TestOpenFailsWithoutTheDatabase(t *testing.T) {
	cfg := testConfig("postgres://herald:hunter2@127.0.0.1:1/apps?sslmode=disable", configs.RefreshNotify)
	cfg.AppsDatabase.Timeout = 2 * time.Second
	_, err := Open(context.Background(), cfg, NewSet(nil, func([]configs.App) {}, nil, nil), Deps{})
	if err == nil || !strings.Contains(err.Error(), "apps database 127.0.0.1:1/apps") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Open = %v, want an error naming 127.0.0.1:1/apps without the password", err)
	}
	cfg.AppsDatabase.DSN = "postgres://herald:hunter2@127.0.0.1:notaport/apps"
	if _, err := Open(context.Background(), cfg, NewSet(nil, func([]configs.App) {}, nil, nil), Deps{}); err == nil ||
		strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("a bad DSN: %v", err)
	}
}

// Through an outage the apps already read stay, the metric says so, the log says it once per
// poll interval; when the database is back, so are its changes.
func TestPostgresOutage(t *testing.T) {
	srv := pgtest.NewServer(t)
	clock := clockwork.NewFakeClock()
	cfg := testConfig(srv.DSN(), configs.RefreshNotify)
	pgtest.Exec(t, srv.DSN(), SchemaSQL)
	pgtest.Exec(t, srv.DSN(), `INSERT INTO herald_apps (id, key, secret) VALUES ('1', 'k1', 's1')`)
	_, rec := follow(t, cfg, clock)
	if _, ok := rec.latest()["1"]; !ok {
		t.Fatal("app 1 not read at start")
	}
	applies := rec.applies()

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	srv.Down()
	// The listener's failure asks for a read at once. A read that raced the shutdown and still
	// succeeded leaves the outage to the listener's next connection attempt, a retry interval
	// later on this fake clock: once the listener waits for it beside the poll ticker (two
	// timers) and the outage is still unseen, move the clock on by one retry interval (an extra
	// retry changes none of the counts checked below).
	down := func() bool { ups := rec.ups(); return !ups[len(ups)-1] }
	listenerWaits := make(chan error, 1)
	go func() { listenerWaits <- clock.BlockUntilContext(ctx, 2) }()
	for !down() {
		select {
		case <-rec.changed:
		case err := <-listenerWaits:
			if err != nil {
				t.Fatalf("waiting for the listener's retry: %v\n%s", err, rec.logs.String())
			}
			if !down() {
				clock.Advance(cfg.AppsDatabase.RetryInterval)
			}
			listenerWaits = nil
		case <-ctx.Done():
			t.Fatalf("herald_apps_database_up 0 never came\n%s", rec.logs.String())
		}
	}
	if n := rec.logs.count("apps database unreachable"); n != 1 {
		t.Fatalf("%d warnings that the database is unreachable, want 1:\n%s", n, rec.logs.String())
	}
	// Retries every retry interval for two and a half poll intervals: a warning per poll interval.
	steps := int(5 * cfg.AppsDatabase.PollInterval / cfg.AppsDatabase.RetryInterval / 2)
	for range steps {
		// The poll ticker, the follower's retry and the listener's reconnection wait.
		if err := clock.BlockUntilContext(ctx, 3); err != nil {
			t.Fatalf("waiting for the retries: %v\n%s", err, rec.logs.String())
		}
		clock.Advance(cfg.AppsDatabase.RetryInterval)
	}
	if n := rec.logs.count("apps database still unreachable"); n != 2 {
		t.Errorf("%d warnings that it is still unreachable over %d retries, want 2 (one per poll interval)", n, steps)
	}
	rec.mu.Lock()
	errs := rec.errors
	rec.mu.Unlock()
	if errs < steps {
		t.Errorf("herald_apps_database_errors_total %d after %d retries", errs, steps)
	}
	if rec.applies() != applies {
		t.Fatalf("the outage changed the apps: %v", rec.latest())
	}

	srv.Up()
	if err := clock.BlockUntilContext(ctx, 3); err != nil {
		t.Fatalf("waiting for the retries: %v", err)
	}
	clock.Advance(cfg.AppsDatabase.RetryInterval)
	rec.waitFor(t, "herald_apps_database_up 1 and a line saying so", func() bool {
		ups := rec.ups()
		return ups[len(ups)-1] && rec.logs.count("apps database reachable again") == 1
	})
	pgtest.Exec(t, srv.DSN(), `UPDATE herald_apps SET secret = 's2' WHERE id = '1'`)
	rec.waitApps(t, "a change after the outage", has("1", func(a configs.App) bool { return a.Secret == "s2" }))
}

// Two apps whose keys were swapped in one transaction, their notifications read one at a time:
// neither is taken away from its clients in between.
func TestPostgresSwappedKeysReadApart(t *testing.T) {
	dsn := pgtest.Database(t)
	pgtest.Exec(t, dsn, SchemaSQL)
	pgtest.Exec(t, dsn, `INSERT INTO herald_apps (id, key, secret) VALUES ('1', 'k1', 's'), ('2', 'k2', 's')`)
	rec := newRecorder()
	// Not Run: the test delivers the notifications itself.
	p, err := Open(context.Background(), testConfig(dsn, configs.RefreshPoll), NewSet(nil, rec.apply, rec.logger(), rec), Deps{Logger: rec.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.pool.Close()
	pgtest.Exec(t, dsn, `BEGIN; UPDATE herald_apps SET key = 'swap' WHERE id = '1'; UPDATE herald_apps SET key = 'k1' WHERE id = '2';
		UPDATE herald_apps SET key = 'k2' WHERE id = '1'; COMMIT`)
	p.request("1")
	if _, err := p.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if apps := rec.latest(); apps["1"].Key != "k2" || apps["2"].Key != "k1" {
		t.Fatalf("after the first notification: %v", apps)
	}
	for _, apps := range rec.applied {
		if len(apps) != 2 {
			t.Fatalf("an app was taken away: %v", apps)
		}
	}
}
