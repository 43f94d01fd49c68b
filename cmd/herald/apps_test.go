package main

// Tests of the real binary: apps reloaded on SIGHUP, apps from PostgreSQL on a 2-node cluster,
// a database outage. They build herald, run it on 127.0.0.1 and talk to it as clients do.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs/appsource/pgtest"
	"github.com/herald-io/herald/protocol"
)

// procTimeout bounds every wait on a herald process; only a failing test reaches it.
const procTimeout = 20 * time.Second

// TestAppsOfTheRunningBinary runs the binary TestMain built.
func TestAppsOfTheRunningBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the herald binary (go test without -short runs it)")
	}
	bin := heraldBin
	t.Run("SIGHUP reloads the file's apps", func(t *testing.T) { testSIGHUPReloadsApps(t, bin) })
	t.Run("database apps on two nodes", func(t *testing.T) { testAppsDatabaseOnTwoNodes(t, bin) })
	t.Run("database outage", func(t *testing.T) { testAppsDatabaseOutage(t, bin) })
}

// logBuffer is a process's stderr, read while the process writes it; with written, every write
// wakes the waits on it.
type logBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.written <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// heraldProc is a running herald.
type heraldProc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	addr    string // WebSocket and HTTP API
	metrics string
	log     *logBuffer
	done    chan struct{}
}

// startWithConfig runs bin with the config file and waits for its banner; SIGTERM at the end.
func startWithConfig(t *testing.T, name, bin, config string) *heraldProc {
	t.Helper()
	p := &heraldProc{t: t, name: name, log: &logBuffer{written: make(chan struct{}, 1)}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "--config", config)
	for _, kv := range os.Environ() { // none of the caller's HERALD_* settings
		if !strings.HasPrefix(kv, "HERALD_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stderr = p.log
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan [2]string, 1)
	go func() {
		var listen string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "herald listening on "); ok {
				listen = a
			}
			if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "metrics http://"); ok {
				addr, _, _ := strings.Cut(rest, "/")
				addrs <- [2]string{listen, addr}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(procTimeout):
			_ = p.cmd.Process.Kill()
			t.Errorf("%s did not stop on SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.log)
		}
	})
	select {
	case a := <-addrs:
		p.addr, p.metrics = a[0], a[1]
	case <-p.done:
		t.Fatalf("%s exited before it listened:\n%s", name, p.log)
	case <-time.After(procTimeout):
		t.Fatalf("%s did not print its addresses:\n%s", name, p.log)
	}
	return p
}

// waitLog waits until the log has a line containing s.
func (p *heraldProc) waitLog(s string) string {
	p.t.Helper()
	deadline := time.After(procTimeout)
	for {
		for line := range strings.SplitSeq(p.log.String(), "\n") {
			if strings.Contains(line, s) {
				return line
			}
		}
		select {
		case <-p.log.written:
		case <-deadline:
			p.t.Fatalf("%s logged no line with %q:\n%s", p.name, s, p.log)
		}
	}
}

// eventually polls cond until it holds: a process's state has no event to wait on.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > procTimeout {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func (p *heraldProc) get(path string) (int, string) {
	res, err := http.Get("http://" + p.metrics + path)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// metric is the value of the exposition line that starts with series ("" when there is none).
func (p *heraldProc) metric(series string) string {
	_, text := p.get("/metrics")
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func (p *heraldProc) api(app pusherclient.App) *pusherclient.API {
	return &pusherclient.API{BaseURL: "http://" + p.addr, App: app}
}

// status is the HTTP status of GET /apps/{id}/channels signed with app's credentials.
func (p *heraldProc) status(app pusherclient.App) int {
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	status, _, err := p.api(app).Do(ctx, http.MethodGet, "/apps/"+app.ID+"/channels", nil, nil)
	if err != nil {
		p.t.Fatalf("%s: GET /channels: %v", p.name, err)
	}
	return status
}

func (p *heraldProc) dial(app pusherclient.App) (*pusherclient.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	return pusherclient.Dial(ctx, app.WebSocketURL("ws://"+p.addr))
}

func (p *heraldProc) mustDial(app pusherclient.App) *pusherclient.Client {
	p.t.Helper()
	c, err := p.dial(app)
	if err != nil {
		p.t.Fatalf("%s: dial %s: %v", p.name, app.Key, err)
	}
	p.t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedWith waits for the server to close c and checks the code.
func closedWith(t *testing.T, c *pusherclient.Client, code int) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(procTimeout):
		t.Fatalf("socket %s still open, want close %d", c.SocketID(), code)
	}
	var ce *pusherclient.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != code {
		t.Fatalf("socket %s ended with %v, want close %d", c.SocketID(), c.Err(), code)
	}
}

// alive checks that c still answers: pusher:ping gets pusher:pong.
func alive(t *testing.T, c *pusherclient.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	if err := c.SendRaw([]byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if _, err := c.Expect(ctx, func(m pusherclient.Message) bool { return m.Event == protocol.EventPong }); err != nil {
		t.Fatalf("no pong: %v", err)
	}
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func testSIGHUPReloadsApps(t *testing.T, bin string) {
	keep := pusherclient.App{ID: "keep", Key: "keep-key", Secret: "keep-secret-0123456789"}
	off := pusherclient.App{ID: "off", Key: "off-key", Secret: "off-secret-0123456789"}
	gone := pusherclient.App{ID: "gone", Key: "gone-key", Secret: "gone-secret-0123456789"}
	added := pusherclient.App{ID: "added", Key: "added-key", Secret: "added-secret-0123456789"}
	app := func(a pusherclient.App, extra string) string {
		return fmt.Sprintf("  - {id: %s, key: %s, secret: %s%s}\n", a.ID, a.Key, a.Secret, extra)
	}
	config := filepath.Join(t.TempDir(), "herald.yaml")
	head := "listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\napps:\n"
	writeConfig(t, config, head+app(keep, "")+app(off, "")+app(gone, ""))
	h := startWithConfig(t, "herald", bin, config)
	cKeep, cOff, cGone := h.mustDial(keep), h.mustDial(off), h.mustDial(gone)

	rotated := keep
	rotated.Secret = "keep-secret-rotated-0123"
	writeConfig(t, config, strings.Replace(head, "listen: 127.0.0.1:0", "listen: 127.0.0.1:1", 1)+
		app(rotated, "")+app(off, ", enabled: false")+app(added, ""))
	if err := h.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line := h.waitLog("config reloaded (SIGHUP): apps applied")
	for _, want := range []string{"file_apps=3", "added=1", "changed=2", "removed=1", "needs_restart=listen"} {
		if !strings.Contains(line, want) {
			t.Errorf("the reload's line lacks %s: %s", want, line)
		}
	}
	closedWith(t, cOff, protocol.CodeAppDisabled)
	closedWith(t, cGone, protocol.CodeAppNotFound)
	alive(t, cKeep)
	for _, tc := range []struct {
		app    pusherclient.App
		status int
	}{{keep, http.StatusUnauthorized}, {rotated, http.StatusOK}, {added, http.StatusOK}, {off, http.StatusForbidden}, {gone, http.StatusNotFound}} {
		if got := h.status(tc.app); got != tc.status {
			t.Errorf("app %s signed with %s: HTTP %d, want %d", tc.app.ID, tc.app.Secret, got, tc.status)
		}
	}
	if _, err := h.dial(added); err != nil {
		t.Errorf("a socket of the added app: %v", err)
	}
	if v := h.metric(`herald_apps{source="file"}`); v != "3" {
		t.Errorf(`herald_apps{source="file"} = %q, want 3`, v)
	}

	// A file that does not load changes nothing.
	writeConfig(t, config, "apps: [")
	if err := h.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	h.waitLog("config reload (SIGHUP) failed: the apps stay as they were")
	if got := h.status(added); got != http.StatusOK {
		t.Errorf("after a failed reload: HTTP %d for an app of the last good one", got)
	}
}

// clusterConfig is the config of member i of a cluster of n on 127.0.0.1 reading apps from dsn.
func clusterConfig(name string, ports []int, i int, dsn string) string {
	n := len(ports) / 2
	var seeds []string
	for j := range n {
		seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(ports[n+j]))
	}
	return fmt.Sprintf(`listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
telemetry: {node_name: node%d}
cluster:
  enabled: true
  name: %s
  address: 127.0.0.1:%d
  provider: automanaged
  automanaged: {port: %d, seeds: [%s]}
apps_database: {dsn: %q}
apps: []
`, i, name, ports[i], ports[n+i], strings.Join(seeds, ", "), dsn)
}

// Apps added, changed, disabled and removed in the database take effect on both members of a
// cluster, each reading the database on its own.
func testAppsDatabaseOnTwoNodes(t *testing.T, bin string) {
	dsn := pgtest.Database(t)
	ports := freePorts(t, 4)
	name := "herald-apps-" + strconv.Itoa(os.Getpid())
	var nodes []*heraldProc
	for i := range 2 {
		config := filepath.Join(t.TempDir(), "node.yaml")
		writeConfig(t, config, clusterConfig(name, ports, i, dsn))
		nodes = append(nodes, startWithConfig(t, "node"+strconv.Itoa(i), bin, config))
	}
	eventually(t, "2 members on each node", func() bool {
		return nodes[0].metric("herald_cluster_members") == "2" && nodes[1].metric("herald_cluster_members") == "2"
	})
	onBoth := func(what string, cond func(*heraldProc) bool) time.Duration {
		t.Helper()
		return eventually(t, what+" on both nodes", func() bool { return cond(nodes[0]) && cond(nodes[1]) })
	}
	status := func(app pusherclient.App, want int) func(*heraldProc) bool {
		return func(p *heraldProc) bool { return p.status(app) == want }
	}

	app := pusherclient.App{ID: "tenant-1", Key: "tenant-1-key", Secret: "tenant-1-secret-0123"}
	pgtest.Exec(t, dsn, `INSERT INTO herald_apps (id, key, secret) VALUES ($1, $2, $3)`, app.ID, app.Key, app.Secret)
	took := map[string]time.Duration{}
	took["added"] = onBoth("the app added", status(app, http.StatusOK))

	// The app works across the cluster: a socket on one node gets a trigger sent to the other.
	c := nodes[0].mustDial(app)
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	if _, err := c.Subscribe(ctx, "orders", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].api(app).Trigger(ctx, []string{"orders"}, "created", `{"id":1}`, pusherclient.TriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, func(m pusherclient.Message) bool { return m.Event == "created" }); err != nil {
		t.Fatalf("the event triggered on node 1: %v", err)
	}

	rotated := app
	rotated.Secret = "tenant-1-secret-rotated"
	pgtest.Exec(t, dsn, `UPDATE herald_apps SET secret = $1 WHERE id = $2`, rotated.Secret, app.ID)
	took["secret rotated"] = onBoth("the old secret refused, the new one taken", func(p *heraldProc) bool {
		return p.status(rotated) == http.StatusOK && p.status(app) == http.StatusUnauthorized
	})
	alive(t, c)

	sockets := []*pusherclient.Client{c, nodes[1].mustDial(app)}
	start := time.Now()
	pgtest.Exec(t, dsn, `UPDATE herald_apps SET enabled = false WHERE id = $1`, app.ID)
	for _, s := range sockets {
		closedWith(t, s, protocol.CodeAppDisabled)
	}
	took["disabled (sockets closed)"] = time.Since(start)
	onBoth("the API refusing the disabled app", status(rotated, http.StatusForbidden))

	pgtest.Exec(t, dsn, `UPDATE herald_apps SET enabled = true WHERE id = $1`, app.ID)
	onBoth("the app enabled again", status(rotated, http.StatusOK))
	sockets = []*pusherclient.Client{nodes[0].mustDial(rotated), nodes[1].mustDial(rotated)}
	start = time.Now()
	pgtest.Exec(t, dsn, `DELETE FROM herald_apps WHERE id = $1`, app.ID)
	for _, s := range sockets {
		closedWith(t, s, protocol.CodeAppNotFound)
	}
	took["removed (sockets closed)"] = time.Since(start)
	onBoth("the API not knowing the removed app", status(rotated, http.StatusNotFound))
	t.Logf("changes in effect on both nodes after (as the test saw them): %v", took)
}

// Through a database outage herald serves the apps it has read, stays ready and says so in
// herald_apps_database_up; when the database is back, so are its changes.
func testAppsDatabaseOutage(t *testing.T, bin string) {
	srv := pgtest.NewServer(t)
	config := filepath.Join(t.TempDir(), "herald.yaml")
	writeConfig(t, config, fmt.Sprintf("listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\napps: []\n"+
		"apps_database: {dsn: %q, retry_interval: 100ms}\n", srv.DSN()))
	h := startWithConfig(t, "herald", bin, config)
	app := pusherclient.App{ID: "tenant-1", Key: "tenant-1-key", Secret: "tenant-1-secret-0123"}
	pgtest.Exec(t, srv.DSN(), `INSERT INTO herald_apps (id, key, secret) VALUES ($1, $2, $3)`, app.ID, app.Key, app.Secret)
	eventually(t, "the app added", func() bool { return h.status(app) == http.StatusOK })
	c := h.mustDial(app)
	if v := h.metric("herald_apps_database_up"); v != "1" {
		t.Fatalf("herald_apps_database_up %q before the outage", v)
	}

	srv.Down()
	eventually(t, "herald_apps_database_up 0", func() bool { return h.metric("herald_apps_database_up") == "0" })
	h.waitLog("apps database unreachable: serving the apps already read")
	if code, _ := h.get("/ready"); code != http.StatusOK {
		t.Errorf("/ready %d through the outage, want 200", code)
	}
	alive(t, c)
	if got := h.status(app); got != http.StatusOK {
		t.Errorf("the API through the outage: %d", got)
	}
	h.mustDial(app) // new sockets too
	if errs := h.metric("herald_apps_database_errors_total"); errs == "" || errs == "0" {
		t.Errorf("herald_apps_database_errors_total %q through the outage", errs)
	}

	srv.Up()
	eventually(t, "herald_apps_database_up 1", func() bool { return h.metric("herald_apps_database_up") == "1" })
	h.waitLog("apps database reachable again")
	rotated := app
	rotated.Secret = "tenant-1-secret-rotated"
	pgtest.Exec(t, srv.DSN(), `UPDATE herald_apps SET secret = $1 WHERE id = $2`, rotated.Secret, app.ID)
	eventually(t, "the change after the outage", func() bool { return h.status(rotated) == http.StatusOK })
	if n := strings.Count(h.log.String(), "apps database unreachable"); n != 1 {
		t.Errorf("%d lines saying the database is unreachable over one outage, want 1", n)
	}
}
