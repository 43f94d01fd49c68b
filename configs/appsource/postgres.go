package appsource

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgxlisten"
	"github.com/jonboulle/clockwork"

	"github.com/herald-io/herald/configs"
)

// SchemaSQL creates herald_apps, its notifications and its version comment; idempotent.
//
//go:embed schema.sql
var SchemaSQL string

// schemaVersion is the table comment schema.sql ends with: a database that has it is current.
var schemaVersion = regexp.MustCompile(`COMMENT ON TABLE herald_apps IS '([^']+)'`).FindStringSubmatch(SchemaSQL)[1]

// notifyChannel is the channel schema.sql's trigger notifies.
const notifyChannel = "herald_apps"

const selectApps = `SELECT id, key, secret, enabled, options::text FROM herald_apps`

// Deps are what Postgres uses besides its config. Zero fields: no logging, no metrics, the
// real clock.
type Deps struct {
	Logger  *slog.Logger
	Metrics Metrics
	// Clock runs the poll and the retries, so that tests can move them.
	Clock clockwork.Clock
}

// Postgres is the apps of a PostgreSQL table, followed while the node runs: it gives Set the
// valid rows after every change it learns of.
type Postgres struct {
	cfg     configs.AppsDatabase
	set     *Set
	decoder decoder
	clock   clockwork.Clock
	log     *slog.Logger
	metrics Metrics
	where   string // host:port/database, for logs: never the DSN, which may hold a password

	pool      *pgxpool.Pool
	listenCfg *pgx.ConnConfig

	// What the database has asked to be read: full (everything) or the ids notified.
	mu      sync.Mutex
	full    bool
	pending map[string]bool
	wake    chan struct{}

	// The follower's own (one goroutine).
	rows      map[string]configs.App // the valid rows, by id
	invalid   map[string]string      // rows left out or kept at their last valid settings: the problem warned about
	down      bool
	downSince time.Time
	lastWarn  time.Time
	failures  int

	listenWarned time.Time // the listener's own (its goroutine)
}

// Open connects to the database cfg.AppsDatabase names, creates the table unless it is current,
// reads every app and gives them to set. It fails when any of that fails within the timeout:
// a node that started without the database's apps would refuse their clients with 4001, and
// pusher-js does not reconnect after 4001.
func Open(ctx context.Context, cfg *configs.Config, set *Set, deps Deps) (*Postgres, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	if deps.Metrics == nil {
		deps.Metrics = noMetrics{}
	}
	dc := cfg.AppsDatabase
	poolCfg, err := pgxpool.ParseConfig(dc.DSN)
	if err != nil {
		return nil, fmt.Errorf("apps_database.dsn: %w", err)
	}
	poolCfg.MaxConns = 1 // one follower reads, one query at a time
	if poolCfg.ConnConfig.ConnectTimeout == 0 {
		poolCfg.ConnConfig.ConnectTimeout = dc.Timeout
	}
	p := &Postgres{
		cfg: dc, set: set, decoder: newDecoder(cfg), clock: deps.Clock, log: deps.Logger, metrics: deps.Metrics,
		where:     poolCfg.ConnConfig.Host + ":" + strconv.Itoa(int(poolCfg.ConnConfig.Port)) + "/" + poolCfg.ConnConfig.Database,
		listenCfg: poolCfg.ConnConfig.Copy(),
		pending:   map[string]bool{}, wake: make(chan struct{}, 1),
		rows: map[string]configs.App{}, invalid: map[string]string{},
	}
	if p.pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		return nil, fmt.Errorf("apps database %s: %w", p.where, err)
	}
	ctx, cancel := context.WithTimeout(ctx, dc.Timeout) // a network deadline: the real clock
	defer cancel()
	if err := p.migrate(ctx); err != nil {
		p.pool.Close()
		return nil, fmt.Errorf("apps database %s: schema: %w", p.where, err)
	}
	p.full = true
	if _, err := p.refresh(ctx); err != nil {
		p.pool.Close()
		return nil, fmt.Errorf("apps database %s: %w", p.where, err)
	}
	p.metrics.SetAppsDatabaseUp(true)
	p.log.Info("apps database read", "database", p.where, "apps", len(p.rows), "refresh", dc.Refresh)
	return p, nil
}

// migrate applies schema.sql unless the table already has its version.
func (p *Postgres) migrate(ctx context.Context) error {
	var comment *string
	err := p.pool.QueryRow(ctx, `SELECT obj_description(to_regclass('herald_apps'), 'pg_class')`).Scan(&comment)
	if err != nil {
		return err
	}
	if comment != nil && *comment == schemaVersion {
		return nil
	}
	if _, err := p.pool.Exec(ctx, SchemaSQL); err != nil {
		return err
	}
	p.log.Info("apps database schema applied", "database", p.where, "version", schemaVersion)
	return nil
}

// Run follows the database until ctx ends, then closes the connections: notifications (with
// refresh notify) and a full read every poll interval, and after a failure a retry every retry
// interval. Through an outage the node keeps the apps it has.
func (p *Postgres) Run(ctx context.Context) {
	defer p.pool.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	if p.cfg.Refresh == configs.RefreshNotify {
		wg.Go(func() { p.listen(ctx) })
	}
	poll := p.clock.NewTicker(p.cfg.PollInterval)
	defer poll.Stop()
	retry := p.clock.NewTimer(p.cfg.RetryInterval)
	retry.Stop()
	defer retry.Stop()
	var retrying <-chan time.Time // retry's channel while a retry is due, nil otherwise
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.Chan():
			p.request("")
		case <-p.wake:
		case <-retrying:
		}
		read, err := p.refresh(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			p.unreachable(err)
			retry.Reset(p.cfg.RetryInterval)
			retrying = retry.Chan()
		case read:
			retry.Stop()
			retrying = nil
			p.reachable()
		}
	}
}

// request asks the follower to read the app id, or every app when id is "".
func (p *Postgres) request(id string) {
	p.mu.Lock()
	if id == "" {
		p.full = true
	} else {
		p.pending[id] = true
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// refresh reads what was requested and gives Set the result; read is false when nothing was.
// Requests that fail stay requested.
func (p *Postgres) refresh(ctx context.Context) (read bool, err error) {
	p.mu.Lock()
	full, ids := p.full, p.pending
	p.full, p.pending = false, map[string]bool{}
	p.mu.Unlock()
	if !full && len(ids) == 0 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout) // a network deadline: the real clock
	defer cancel()
	var rows []row
	if full {
		rows, err = p.query(ctx, selectApps)
	} else {
		rows, err = p.query(ctx, selectApps+` WHERE id = ANY($1)`, slices.Collect(maps.Keys(ids)))
	}
	if err != nil {
		p.mu.Lock()
		p.full = p.full || full
		maps.Copy(p.pending, ids)
		p.mu.Unlock()
		return true, err
	}
	if full {
		ids = map[string]bool{}
		for id := range p.rows {
			ids[id] = true
		}
		for id := range p.invalid {
			ids[id] = true
		}
	}
	p.take(ids, rows)
	if !full && p.keysClash() {
		// Rows read apart from the others they changed with: two apps whose keys were swapped in
		// one transaction, one of them read so far. The table's UNIQUE key holds in a full read;
		// without one, the other app would be taken away from its clients for a moment.
		p.mu.Lock()
		p.full = true
		p.mu.Unlock()
		return p.refresh(ctx)
	}
	apps := slices.SortedFunc(maps.Values(p.rows), func(a, b configs.App) int { return cmp.Compare(a.ID, b.ID) })
	if ch := p.set.SetDatabase(apps); !ch.Empty() {
		p.log.Info("apps changed in the database", append([]any{"database", p.where}, ch.LogAttrs()...)...)
	}
	return true, nil
}

// take records rows, read for ids (and any others): an id asked for and not read was deleted.
// A row that does not make a valid app is left out, or keeps its last valid settings: a bad
// edit must not take a running app away from its clients.
func (p *Postgres) take(ids map[string]bool, rows []row) {
	for _, r := range rows {
		delete(ids, r.id)
		app, err := p.decoder.decode(r)
		if err == nil {
			p.rows[r.id] = app
			delete(p.invalid, r.id)
			continue
		}
		if msg := err.Error(); p.invalid[r.id] != msg {
			p.invalid[r.id] = msg
			_, kept := p.rows[r.id]
			p.log.Warn("apps database: a row is not a valid app", "database", p.where, "id", r.id,
				"kept_previous_settings", kept, "error", err)
		}
	}
	for id := range ids {
		delete(p.rows, id)
		delete(p.invalid, id)
	}
}

// keysClash reports whether two of the rows have one key.
func (p *Postgres) keysClash() bool {
	keys := make(map[string]bool, len(p.rows))
	for _, a := range p.rows {
		if keys[a.Key] {
			return true
		}
		keys[a.Key] = true
	}
	return false
}

func (p *Postgres) query(ctx context.Context, sql string, args ...any) ([]row, error) {
	rows, err := p.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(rs pgx.CollectableRow) (row, error) {
		var r row
		var options string
		err := rs.Scan(&r.id, &r.key, &r.secret, &r.enabled, &options)
		r.options = []byte(options)
		return r, err
	})
}

// unreachable records a failed read: at once when the database stops answering, then once per
// poll interval while it does not.
func (p *Postgres) unreachable(err error) {
	p.metrics.AddAppsDatabaseError()
	now := p.clock.Now()
	p.failures++
	if !p.down {
		p.down, p.downSince, p.lastWarn, p.failures = true, now, now, 1
		p.metrics.SetAppsDatabaseUp(false)
		p.log.Warn("apps database unreachable: serving the apps already read until it answers",
			"database", p.where, "apps", len(p.rows), "error", err)
		return
	}
	if now.Sub(p.lastWarn) >= p.cfg.PollInterval {
		p.lastWarn = now
		p.log.Warn("apps database still unreachable", "database", p.where,
			"for", now.Sub(p.downSince).Round(time.Millisecond), "failed_reads", p.failures, "error", err)
	}
}

func (p *Postgres) reachable() {
	if !p.down {
		return
	}
	p.down = false
	p.metrics.SetAppsDatabaseUp(true)
	p.log.Info("apps database reachable again", "database", p.where,
		"after", p.clock.Since(p.downSince).Round(time.Millisecond), "failed_reads", p.failures)
}

// listen follows the table's notifications on a connection of its own until ctx ends. Each
// (re)connection asks for a full read: what changed while it was away was not notified.
func (p *Postgres) listen(ctx context.Context) {
	first := true
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			if !first { // the delay on the node's clock, not pgxlisten's
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-p.clock.After(p.cfg.RetryInterval):
				}
			}
			first = false
			ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout) // a network deadline: the real clock
			defer cancel()
			return pgx.ConnectConfig(ctx, p.listenCfg)
		},
		LogError:       p.listenFailed,
		ReconnectDelay: -1, // Connect waits
	}
	l.Handle(notifyChannel, handler{p})
	_ = l.Listen(ctx) // returns when ctx ends
}

// listenFailed: the notifications stopped. A full read finds out whether the database is down
// (and does the work of the notifications missed); the warning comes once per poll interval.
func (p *Postgres) listenFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	p.metrics.AddAppsDatabaseError()
	p.request("")
	if now := p.clock.Now(); now.Sub(p.listenWarned) >= p.cfg.PollInterval {
		p.listenWarned = now
		p.log.Warn("apps database: notifications interrupted; changes are read every poll_interval until they resume",
			"database", p.where, "poll_interval", p.cfg.PollInterval, "error", err)
	}
}

type handler struct{ p *Postgres }

func (h handler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	h.p.request(n.Payload)
	return nil
}

func (h handler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.p.request("")
	return nil
}

type noMetrics struct{}

func (noMetrics) SetApps(int, int)       {}
func (noMetrics) SetAppsDatabaseUp(bool) {}
func (noMetrics) AddAppsDatabaseError()  {}
