// Package pgtest gives tests a PostgreSQL database: a new database on the server that `go tool
// task test` starts (its DSN in HERALD_TEST_POSTGRES_DSN), or a server of a test's own for a test
// that stops it (configs/appsource/testdata/postgres.sh). Without the variable such tests skip,
// saying how to run them: a plain `go test ./...` needs no PostgreSQL.
package pgtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable holding the shared test server's DSN.
const EnvDSN = "HERALD_TEST_POSTGRES_DSN"

// timeout bounds each step of setting a database up or down.
const timeout = 30 * time.Second

func sharedDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		t.Skipf("needs PostgreSQL: `go tool task test` (or `go tool task postgres:start`, then %s=<its DSN> go test) runs it", EnvDSN)
	}
	return dsn
}

// Database creates an empty database on the shared server for this test alone (its own tables,
// its own notifications) and returns its DSN; it is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	return NewDatabase(t, sharedDSN(t))
}

// NewDatabase creates an empty database on the server of dsn and returns its DSN; it is dropped
// when the test ends.
func NewDatabase(t testing.TB, dsn string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "herald_test_" + hex.EncodeToString(b)
	Exec(t, dsn, "CREATE DATABASE "+name)
	t.Cleanup(func() { _ = execSQL(dsn, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL: %v", EnvDSN, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Server is a PostgreSQL server of one test's own, for a test that takes it down and up again.
type Server struct {
	t     testing.TB
	state string
	dsn   string
}

// NewServer starts a server (with the test's own database on it) and stops it when the test
// ends. It skips where the shared server is not set up: the task installs PostgreSQL first.
func NewServer(t testing.TB) *Server {
	t.Helper()
	sharedDSN(t)
	s := &Server{t: t, state: filepath.Join(t.TempDir(), "postgres.state")}
	s.run("start")
	t.Cleanup(func() { s.run("stop") })
	f, err := os.Open(s.state)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "DSN="); ok {
			s.dsn = NewDatabase(t, v)
		}
	}
	if s.dsn == "" {
		t.Fatalf("pgtest: no DSN in %s", s.state)
	}
	return s
}

// DSN is the test's database on the server.
func (s *Server) DSN() string { return s.dsn }

// Down stops the server, as an outage would: every connection drops, new ones are refused.
func (s *Server) Down() { s.run("down") }

// Up starts it again, on the same port with the same data.
func (s *Server) Up() { s.run("up") }

func (s *Server) run(cmd string) {
	s.t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "testdata", "postgres.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, script, cmd, s.state).CombinedOutput(); err != nil {
		s.t.Fatalf("pgtest: postgres.sh %s: %v\n%s", cmd, err, out)
	}
}

// Exec runs statements (with args, one statement) on the database of dsn, failing the test
// when they fail.
func Exec(t testing.TB, dsn, stmt string, args ...any) {
	t.Helper()
	if err := execSQL(dsn, stmt, args...); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

func execSQL(dsn, stmt string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt, args...); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}
