package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// strictEnv makes a missing tool (helm, buildah, an image) a failure instead of a skip.
// `go tool task deploy:test` sets it: it installs every tool first, so nothing may skip there.
const strictEnv = "HERALD_DEPLOY_STRICT"

// waitTimeout bounds every wait in these tests.
const waitTimeout = 20 * time.Second

var (
	workDir    string // a temporary directory for the whole test binary
	heraldOnce sync.Once
	heraldBin  string
	heraldErr  error
)

func TestMain(m *testing.M) {
	if os.Getenv(shimEnv) != "" {
		runNamespaceShim() // never returns
	}
	dir, err := os.MkdirTemp("", "herald-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// missingTool skips the test, or fails it under HERALD_DEPLOY_STRICT.
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(strictEnv) != "" {
		t.Fatalf("%s (%s is set: nothing may be skipped)", msg, strictEnv)
	}
	t.Skipf("%s; `go tool task deploy:test` installs it and runs this test", msg)
}

// repoRoot is herald's repository root (this module is configs/deploy in it).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(mod, []byte("module github.com/herald-io/herald\n")) {
		t.Fatalf("%s is not herald's repository root (go.mod: %v)", root, err)
	}
	return root
}

// heraldBinary builds herald from the repository once per test run, as the image's binary is
// built (static, -trimpath): the same build flags share go's build cache with image:build.
func heraldBinary(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	heraldOnce.Do(func() {
		heraldBin = filepath.Join(workDir, "herald")
		cmd := exec.Command("go", "build", "-trimpath", "-o", heraldBin, "./cmd/herald")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			heraldErr = fmt.Errorf("go build ./cmd/herald: %v\n%s", err, out)
		}
	})
	if heraldErr != nil {
		t.Fatal(heraldErr)
	}
	return heraldBin
}

// heraldProc is a running herald process.
type heraldProc struct {
	cmd     *exec.Cmd
	listen  string // host:port of the WebSocket endpoint and HTTP API
	metrics string // host:port of /metrics, /up, /ready
	stderr  *lockedBuffer
	done    chan struct{}
	waitErr error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cleanEnv is this process's environment without HERALD_* (so that nothing of the caller's
// leaks into the herald under test) and without Kubernetes' in-cluster variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HERALD_") || strings.HasPrefix(kv, "KUBERNETES_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// startHerald runs cmd (a herald, or a wrapper that execs one) and waits until it prints its
// listen and metrics addresses. The process is stopped with SIGTERM at the end of the test.
func startHerald(t *testing.T, cmd *exec.Cmd) *heraldProc {
	t.Helper()
	p := &heraldProc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	addrs := make(chan [2]string, 1)
	go func() {
		var listen string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "herald listening on "); ok {
				listen = a
			}
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "metrics http://"); ok {
				addr, _, _ := strings.Cut(rest, "/")
				addrs <- [2]string{listen, addr}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case a := <-addrs:
		p.listen, p.metrics = a[0], a[1]
	case <-p.done:
		t.Fatalf("herald exited before it listened: %v\nstderr:\n%s", p.waitErr, p.stderr)
	case <-time.After(waitTimeout):
		t.Fatalf("herald did not print its addresses within %v\nstderr:\n%s", waitTimeout, p.stderr)
	}
	if p.listen == "" {
		t.Fatalf("herald printed its metrics address but no listen address\nstderr:\n%s", p.stderr)
	}
	return p
}

// stop sends SIGTERM and waits for the exit; it returns the process's exit error.
func (p *heraldProc) stop(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.waitErr
	default:
	}
	p.terminate()
	return p.wait(t)
}

// terminate sends SIGTERM: herald starts its hand-over.
func (p *heraldProc) terminate() { _ = p.cmd.Process.Signal(syscall.SIGTERM) }

// wait waits for the exit after terminate.
func (p *heraldProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("herald did not stop within 30s of SIGTERM\nstderr:\n%s", p.stderr)
	}
	return p.waitErr
}

func (p *heraldProc) httpBase() string    { return "http://" + p.listen }
func (p *heraldProc) wsBase() string      { return "ws://" + p.listen }
func (p *heraldProc) metricsBase() string { return "http://" + p.metrics }

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// app is one Pusher app's credentials.
type app struct{ id, key, secret string }

// signedURL signs an HTTP API request as the Pusher HTTP API documents it: the sorted query
// (auth_key, auth_timestamp, auth_version, body_md5 when there is a body) is HMAC-SHA256'd with
// the secret over "METHOD\nPATH\nQUERY".
func (a app) signedURL(base, method, path string, body []byte) string {
	q := url.Values{}
	q.Set("auth_key", a.key)
	q.Set("auth_timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	q.Set("auth_version", "1.0")
	if len(body) > 0 {
		sum := md5.Sum(body)
		q.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + q.Get(k)
	}
	query := strings.Join(parts, "&")
	mac := hmac.New(sha256.New, []byte(a.secret))
	mac.Write([]byte(method + "\n" + path + "\n" + query))
	return base + path + "?" + query + "&auth_signature=" + hex.EncodeToString(mac.Sum(nil))
}

// post sends a signed HTTP API POST and fails the test unless it answers 200.
func (a app) post(t *testing.T, base, path string, payload any) {
	t.Helper()
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.signedURL(base, http.MethodPost, path, body), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", path, res.Status, answer)
	}
}

// trigger publishes one event through the HTTP API.
func (a app) trigger(t *testing.T, base, channel, name, data string) {
	t.Helper()
	a.post(t, base, "/apps/"+a.id+"/events", map[string]any{"name": name, "channels": []string{channel}, "data": data})
}

// channelAuth is the auth of a private or presence subscription.
func (a app) channelAuth(socketID, channel, channelData string) string {
	mac := hmac.New(sha256.New, []byte(a.secret))
	msg := socketID + ":" + channel
	if channelData != "" {
		msg += ":" + channelData
	}
	mac.Write([]byte(msg))
	return a.key + ":" + hex.EncodeToString(mac.Sum(nil))
}

// wsClient is a Pusher protocol client on one WebSocket.
type wsClient struct {
	conn     *websocket.Conn
	socketID string
}

type frame struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Data    any    `json:"data"`
}

// dataString is a frame's data as the string Pusher sends it (JSON-encoded inside the frame).
func (f frame) dataString() string {
	if s, ok := f.Data.(string); ok {
		return s
	}
	b, _ := json.Marshal(f.Data)
	return string(b)
}

// connect opens /app/{key} and waits for pusher:connection_established. A non-zero rcvBuf
// shrinks the socket's receive buffer (for a client that stops reading).
func connect(t *testing.T, wsBase, key string, rcvBuf int) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	dialer := &net.Dialer{Timeout: waitTimeout}
	if rcvBuf > 0 {
		dialer.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	conn, _, err := websocket.Dial(ctx, wsBase+"/app/"+key+"?protocol=7&client=herald-deploy-test&version=1.0", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("WebSocket connect to %s: %v", wsBase, err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	c := &wsClient{conn: conn}
	f := c.expect(t, "pusher:connection_established", "")
	var est struct {
		SocketID string `json:"socket_id"`
	}
	if err := json.Unmarshal([]byte(f.dataString()), &est); err != nil || est.SocketID == "" {
		t.Fatalf("connection_established without a socket_id: %q (%v)", f.dataString(), err)
	}
	c.socketID = est.SocketID
	return c
}

func (c *wsClient) send(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("WebSocket write: %v", err)
	}
}

// expect reads frames until one with event (and channel, unless empty) arrives.
func (c *wsClient) expect(t *testing.T, event, channel string) frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		_, b, err := c.conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s on %q: %v", event, channel, err)
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("frame is not JSON: %q", b)
		}
		if f.Event == "pusher:error" {
			t.Fatalf("waiting for %s on %q: pusher:error %s", event, channel, f.dataString())
		}
		if f.Event == event && (channel == "" || f.Channel == channel) {
			return f
		}
	}
}

// expectGoingAway reads until herald closes the socket and checks that it asked the client to
// reconnect elsewhere (4200), as it does to every client on SIGTERM.
func (c *wsClient) expectGoingAway(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		_, _, err := c.conn.Read(ctx)
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != 4200 {
			t.Fatalf("socket ended with %v (close code %d), want close 4200", err, code)
		}
		return
	}
}

// subscribe joins channel (auth and channelData as the channel kind needs) and waits for
// pusher_internal:subscription_succeeded.
func (c *wsClient) subscribe(t *testing.T, channel, auth, channelData string) {
	t.Helper()
	data := map[string]string{"channel": channel}
	if auth != "" {
		data["auth"] = auth
	}
	if channelData != "" {
		data["channel_data"] = channelData
	}
	c.send(t, map[string]any{"event": "pusher:subscribe", "data": data})
	c.expect(t, "pusher_internal:subscription_succeeded", channel)
}

// freePort is a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// eventually polls cond every 50 ms until it is true or waitTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
