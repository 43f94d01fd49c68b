package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// heraldBin is the herald binary the tests run, built once by TestMain as a user builds it.
var heraldBin string

// testCommit is stamped into the test binary, as the Taskfile stamps the real commit.
const testCommit = "0123456789abcdef0123456789abcdef01234567"

// waitTimeout bounds every wait for the process; the tests never depend on how long anything
// takes within it.
const waitTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herald-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	heraldBin = filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-ldflags", "-X main.commit="+testCommit, "-o", heraldBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is this process's environment without HERALD_* (the caller's must not leak into the
// herald under test), with env added.
func cleanEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// runHerald runs herald to its end and returns its output and exit status.
func runHerald(t *testing.T, env []string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, heraldBin, args...)
	cmd.Env = cleanEnv(env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("herald %v did not end: %s %s", args, out.String(), errOut.String())
	}
	status = cmd.ProcessState.ExitCode()
	if err != nil && status < 0 {
		t.Fatalf("herald %v: %v", args, err)
	}
	return out.String(), errOut.String(), status
}

// proc is a running herald.
type proc struct {
	cmd     *exec.Cmd
	banner  []string // stdout up to the banner's config line
	listen  string
	metrics string
	stderr  *logBuffer
	done    chan struct{}
}

// startHerald starts herald on 127.0.0.1 with env and args, and waits for its banner. The
// process is killed at the end of the test if it is still running.
func startHerald(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(heraldBin, args...)
	cmd.Env = cleanEnv(append([]string{"HERALD_LISTEN=127.0.0.1:0", "HERALD_METRICS_LISTEN=127.0.0.1:0"}, env...)...)
	p := &proc{cmd: cmd, stderr: &logBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	bannerDone := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		inBanner := true
		for sc.Scan() {
			if !inBanner {
				continue
			}
			line := sc.Text()
			p.banner = append(p.banner, line)
			if a, ok := strings.CutPrefix(line, "herald listening on "); ok {
				p.listen = a
			}
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "metrics http://"); ok {
				p.metrics, _, _ = strings.Cut(rest, "/")
			}
			if strings.HasPrefix(line, "  config ") {
				inBanner = false
				close(bannerDone)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case <-bannerDone:
	case <-p.done:
		t.Fatalf("herald exited before its banner:\n%s", p.stderr)
	case <-time.After(waitTimeout):
		t.Fatalf("no banner within %v:\n%s", waitTimeout, p.stderr)
	}
	return p
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the exit and returns its status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(waitTimeout):
		t.Fatalf("herald still running after %v:\n%s", waitTimeout, p.stderr)
		return -1
	}
}

// waitStderr waits until herald's stderr holds want.
func (p *proc) waitStderr(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr has no %q after %v:\n%s", want, waitTimeout, p.stderr)
		}
		select {
		case <-p.done:
			if !strings.Contains(p.stderr.String(), want) {
				t.Fatalf("herald exited without logging %q:\n%s", want, p.stderr)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// noWarnings fails the test for any WARN or ERROR line: none is normal operation.
func noWarnings(t *testing.T, name, stderr string) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("%s logged a warning or an error in normal operation: %s", name, line)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help", "help"} {
		stdout, stderr, status := runHerald(t, nil, arg)
		if status != 0 || stderr != "" {
			t.Fatalf("herald %s: status %d, stderr %q", arg, status, stderr)
		}
		for _, want := range []string{
			"--config file", "--listen host:port", "--metrics-listen host:port", "--print-default-config", "--version",
			"herald version", "herald probe URL",
			"the YAML file named by --config; herald looks for no other file",
			"HERALD_LOG__LEVEL=debug", "HERALD_APPS__0__SECRET=", "HERALD_APPS__0__WEBHOOKS__0__URL=",
			"refuses the embedded default", docsURL,
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("herald %s lacks %q:\n%s", arg, want, stdout)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	a, _, status := runHerald(t, nil, "version")
	b, _, status2 := runHerald(t, nil, "--version")
	if status != 0 || status2 != 0 || a != b {
		t.Fatalf("version %q (%d), --version %q (%d)", a, status, b, status2)
	}
	if !strings.HasPrefix(a, "herald ") || !strings.Contains(a, "commit "+testCommit) || !strings.Contains(a, "go1.") {
		t.Errorf("version %q: want the module version, the commit and the Go version", a)
	}
}

// TestRefusedAtStart: a command line or configuration that herald would misread stops it at
// start, with the exit status of its kind and a message saying what to do, and no secret.
func TestRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("activty_timeout: 30s\napps:\n  - {id: a, key: k, secret: s, client_event: false}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		env    []string
		args   []string
		status int
		want   []string
		secret string // must not appear
	}{
		{"a file without --config", nil, []string{"my.yaml"}, 2, []string{`unexpected argument "my.yaml"`, "use --config my.yaml"}, ""},
		{"an unknown flag", nil, []string{"--listn", "x"}, 2, []string{"flag provided but not defined: -listn", "herald --help"}, ""},
		{"a misspelt variable", []string{"HERALD_LISTN=127.0.0.1:0"}, nil, 1, []string{"unknown variable HERALD_LISTN (did you mean HERALD_LISTEN?)"}, ""},
		{"misspelt keys in the file", nil, []string{"--config", typo}, 1,
			[]string{"config file " + typo + ": unknown key activty_timeout (did you mean activity_timeout?)",
				"unknown key apps[0].client_event (did you mean apps[0].client_events?)"}, ""},
		{"a bad duration", []string{"HERALD_ACTIVITY_TIMEOUT=2 minutes"}, nil, 1,
			[]string{`activity_timeout: "2 minutes" is not a duration`, "(from HERALD_ACTIVITY_TIMEOUT)"}, ""},
		// herald validates before it binds anything: nothing below listens beyond loopback.
		{"default credentials beyond loopback", []string{"HERALD_LISTEN=0.0.0.0:0"}, nil, 1,
			[]string{"set HERALD_APPS__0__KEY", "set HERALD_APPS__0__SECRET", "secret_sha256="}, "app-secret"},
		{"default credentials on a bare port", []string{"HERALD_LISTEN=:0"}, nil, 1,
			[]string{"herald listens on :0, beyond this machine"}, "app-secret"},
		{"metrics beyond loopback", []string{"HERALD_LISTEN=127.0.0.1:0", "HERALD_METRICS_LISTEN=0.0.0.0:0"}, nil, 1,
			[]string{"herald listens on 0.0.0.0:0"}, "app-secret"},
		{"a short secret beyond loopback", []string{"HERALD_LISTEN=0.0.0.0:0", "HERALD_APPS__0__KEY=my-key", "HERALD_APPS__0__SECRET=tiny-sec"}, nil, 1,
			[]string{"apps[0].secret (secret_sha256=", "has 8 bytes", "at least 16 bytes"}, "tiny-sec"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, status := runHerald(t, c.env, c.args...)
			if status != c.status || stdout != "" {
				t.Fatalf("status %d (want %d), stdout %q, stderr:\n%s", status, c.status, stdout, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if c.secret != "" && strings.Contains(stderr, c.secret) {
				t.Errorf("stderr shows the secret %q:\n%s", c.secret, stderr)
			}
		})
	}
}

// TestServesAndStops: the embedded default app on loopback starts, shows its secret only as a
// fingerprint, serves its probes, and stops on SIGTERM with status 0 and nothing at WARN or ERROR.
func TestServesAndStops(t *testing.T) {
	p := startHerald(t, []string{"HERALD_LOG__FORMAT=text"})
	banner := strings.Join(p.banner, "\n")
	for _, want := range []string{"secret_sha256=6c904c51", "traces off   logs stderr (info, text)",
		"config embedded defaults", "environment HERALD_LISTEN HERALD_LOG__FORMAT HERALD_METRICS_LISTEN"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if strings.Contains(banner, "app-secret") {
		t.Errorf("the banner shows the secret:\n%s", banner)
	}
	res, err := http.Get("http://" + p.metrics + "/ready")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /ready: %v %v", res, err)
	}
	res.Body.Close()
	p.signal(t, syscall.SIGTERM)
	if status := p.wait(t); status != 0 {
		t.Fatalf("exit status %d after SIGTERM:\n%s", status, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), `msg="shutting down; a second signal exits at once" signal=terminated`) {
		t.Errorf("no shutdown line:\n%s", p.stderr)
	}
	noWarnings(t, "herald", p.stderr.String())
}

// TestSecondInstanceIsToldAboutPorts: a second herald on the first one's ports is told how to
// give it others.
func TestSecondInstanceIsToldAboutPorts(t *testing.T) {
	first := startHerald(t, nil)
	for _, c := range []struct{ env, want string }{
		{"HERALD_METRICS_LISTEN=" + first.metrics, "address already in use (another herald running? give this one other ports, e.g. --metrics-listen 127.0.0.1:0)"},
		{"HERALD_LISTEN=" + first.listen, "address already in use (another herald running? give this one other ports, e.g. --listen 127.0.0.1:0)"},
	} {
		env := []string{"HERALD_LISTEN=127.0.0.1:0", "HERALD_METRICS_LISTEN=127.0.0.1:0", c.env}
		_, stderr, status := runHerald(t, env)
		if status != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: status %d, stderr:\n%s", c.env, status, stderr)
		}
	}
	_, _, status := runHerald(t, nil, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--version")
	if status != 0 {
		t.Errorf("--version with other flags: status %d", status)
	}
}

// TestSecondSignalExitsAtOnce: while the shutdown waits (here on spans for a collector that is
// not there, with the grace and the flush bound set far out), a second signal ends the process
// at once with the shell's status for that signal.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadCollector := l.Addr().String()
	l.Close()
	p := startHerald(t, []string{
		"HERALD_TELEMETRY__TRACES__EXPORTER=otlp-grpc", "HERALD_TELEMETRY__TRACES__ENDPOINT=" + deadCollector,
		"HERALD_TELEMETRY__TRACES__FLUSH_TIMEOUT=1h", "HERALD_SHUTDOWN_GRACE=1h",
	})
	if !strings.Contains(strings.Join(p.banner, "\n"), "traces otlp-grpc "+deadCollector) {
		t.Errorf("the banner does not say where traces go:\n%s", strings.Join(p.banner, "\n"))
	}
	// One HTTP API call makes one server span, which the exporter cannot send.
	res, err := http.Get("http://" + p.listen + "/apps/app-id/channels")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	p.signal(t, syscall.SIGINT)
	p.waitStderr(t, "shutting down")
	p.signal(t, syscall.SIGINT)
	if status := p.wait(t); status != 128+int(syscall.SIGINT) {
		t.Fatalf("exit status %d after a second SIGINT, want %d:\n%s", status, 128+int(syscall.SIGINT), p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "herald: second signal (interrupt): exiting now") {
		t.Errorf("stderr:\n%s", p.stderr)
	}
}

// TestClusterStartAndStopQuietly: two herald processes form an automanaged cluster and leave
// it on SIGTERM; each says at INFO which members joined and left, and neither logs anything at
// WARN or ERROR (proto.actor logs about ten such lines on a clean start and stop).
func TestClusterStartAndStopQuietly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 2-node cluster (about 10 s)")
	}
	ports := freePorts(t, 4)
	seeds := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", ports[2], ports[3])
	node := func(i int) *proc {
		return startHerald(t, []string{
			"HERALD_CLUSTER__ENABLED=true", "HERALD_CLUSTER__NAME=quiet-test",
			fmt.Sprintf("HERALD_CLUSTER__ADDRESS=127.0.0.1:%d", ports[i]),
			fmt.Sprintf("HERALD_CLUSTER__AUTOMANAGED__PORT=%d", ports[2+i]),
			"HERALD_CLUSTER__AUTOMANAGED__SEEDS=" + seeds,
			fmt.Sprintf("HERALD_TELEMETRY__NODE_NAME=node%d", i),
		})
	}
	a, b := node(0), node(1)
	for _, p := range []*proc{a, b} {
		for _, port := range ports[:2] {
			p.waitStderr(t, fmt.Sprintf(`msg="cluster member joined" member=127.0.0.1:%d`, port))
		}
	}
	a.signal(t, syscall.SIGTERM)
	if status := a.wait(t); status != 0 {
		t.Fatalf("node 0 exit status %d:\n%s", status, a.stderr)
	}
	b.waitStderr(t, fmt.Sprintf(`msg="cluster member left" member=127.0.0.1:%d members=1`, ports[0]))
	b.signal(t, syscall.SIGTERM)
	if status := b.wait(t); status != 0 {
		t.Fatalf("node 1 exit status %d:\n%s", status, b.stderr)
	}
	noWarnings(t, "node 0", a.stderr.String())
	noWarnings(t, "node 1", b.stderr.String())
}

// freePorts returns n TCP ports free on 127.0.0.1 a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
