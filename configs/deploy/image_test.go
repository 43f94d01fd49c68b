package deploy

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// imageEnv names the image that TestImage checks (`go tool task image:build` builds it).
const imageEnv = "HERALD_IMAGE"

// The image's layout and config, as the Containerfile makes them.
const (
	imageBinary     = "/herald"
	imageConfig     = "/etc/herald/herald.yaml"
	imageCACerts    = "/etc/ssl/certs/ca-certificates.crt"
	imageHealthURL  = "http://127.0.0.1:9601/up"
	imageUser       = "65532:65532"
	imageConfigFile = "container/herald.yaml"
)

func runProbe(t *testing.T, bin string, args ...string) (time.Duration, string, error) {
	t.Helper()
	start := time.Now()
	out, err := exec.Command(bin, append([]string{"probe"}, args...)...).CombinedOutput()
	return time.Since(start), string(out), err
}

// checkProbe: `herald probe URL` exits 0 on a 2xx answer and 1 on anything else, within its
// 2 s timeout even when the server never answers.
func checkProbe(t *testing.T, bin string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusNoContent)
		case "/hang":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if _, out, err := runProbe(t, bin, srv.URL+"/ok"); err != nil {
		t.Errorf("probe of a 204: %v %s", err, out)
	}
	closed := "http://" + srv.Listener.Addr().String()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{srv.URL + "/ready"}, "503"},
		{[]string{srv.URL + "/hang"}, "deadline"},
		{[]string{"http://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/up"}, "refused"},
		{nil, "usage"},
		{[]string{closed + "/a", closed + "/b"}, "usage"},
	} {
		took, out, err := runProbe(t, bin, tc.args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("probe %v: exit %v, output %q; want exit 1 saying %q", tc.args, err, out, tc.want)
		}
		if took > 3*time.Second {
			t.Errorf("probe %v took %v: its timeout is 2 s", tc.args, took)
		}
	}
}

// TestProbe checks the probe subcommand of the herald built from this repository.
func TestProbe(t *testing.T) {
	checkProbe(t, heraldBinary(t))
}

// imageInspect is the part of `buildah inspect --type image` this test reads.
type imageInspect struct {
	Docker struct {
		Config struct {
			User         string              `json:"User"`
			ExposedPorts map[string]struct{} `json:"ExposedPorts"`
			Entrypoint   []string            `json:"Entrypoint"`
			Cmd          []string            `json:"Cmd"`
			Env          []string            `json:"Env"`
			Healthcheck  *struct {
				Test        []string      `json:"Test"`
				Interval    time.Duration `json:"Interval"`
				Timeout     time.Duration `json:"Timeout"`
				StartPeriod time.Duration `json:"StartPeriod"`
				Retries     int           `json:"Retries"`
			} `json:"Healthcheck"`
		} `json:"config"`
	} `json:"Docker"`
}

func buildah(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("buildah", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("buildah %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestImage checks the built image's config with buildah inspect, takes the herald binary and
// config out of the image, and runs that very binary on 127.0.0.1 with the image's config:
// /up, /ready, a WebSocket subscriber that receives a trigger, and the HEALTHCHECK's probe.
func TestImage(t *testing.T) {
	image := os.Getenv(imageEnv)
	if image == "" {
		missingTool(t, "$%s names no image", imageEnv)
	}
	if _, err := exec.LookPath("buildah"); err != nil {
		missingTool(t, "buildah is not installed")
	}

	var info imageInspect
	if err := json.Unmarshal(buildah(t, "inspect", "--type", "image", image), &info); err != nil {
		t.Fatalf("buildah inspect: %v", err)
	}
	cfg := info.Docker.Config
	uid, gid, _ := strings.Cut(cfg.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 || cfg.User != imageUser {
		t.Errorf("User %q: want the numeric non-root %s", cfg.User, imageUser)
	}
	if _, err := strconv.Atoi(gid); err != nil {
		t.Errorf("User %q: the group must be numeric too (no /etc/group in the image)", cfg.User)
	}
	var ports []string
	for p := range cfg.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	if !slices.Equal(ports, []string{"6001/tcp", "9601/tcp"}) {
		t.Errorf("exposed ports %v, want 6001/tcp and 9601/tcp", ports)
	}
	if !slices.Equal(cfg.Entrypoint, []string{imageBinary}) || !slices.Equal(cfg.Cmd, []string{"--config", imageConfig}) {
		t.Errorf("entrypoint %q cmd %q", cfg.Entrypoint, cfg.Cmd)
	}
	hc := cfg.Healthcheck
	if hc == nil || !slices.Equal(hc.Test, []string{"CMD", imageBinary, "probe", imageHealthURL}) || hc.Interval <= 0 || hc.Timeout <= 2*time.Second {
		t.Fatalf("healthcheck %+v: want CMD %s probe %s with an interval and a timeout above the probe's 2 s", hc, imageBinary, imageHealthURL)
	}

	// The files: exactly the binary, its config and the CA roots; no shell, nothing else.
	name := "herald-image-test-" + strconv.Itoa(os.Getpid())
	buildah(t, "from", "--pull-never", "--name", name, image)
	t.Cleanup(func() { _ = exec.Command("buildah", "rm", name).Run() })
	root := strings.TrimSpace(string(buildah(t, "mount", name)))
	t.Cleanup(func() { _ = exec.Command("buildah", "umount", name).Run() })
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, strings.TrimPrefix(path, root))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if want := []string{imageConfig, imageCACerts, imageBinary}; !slices.Equal(files, want) {
		t.Errorf("files in the image %v, want %v", files, want)
	}
	dir := t.TempDir()
	bin, config := filepath.Join(dir, "herald"), filepath.Join(dir, "herald.yaml")
	for src, dst := range map[string]string{imageBinary: bin, imageConfig: config} {
		b, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if info, err := os.Stat(filepath.Join(root, imageBinary)); err != nil || info.Mode().Perm()&0o005 != 0o005 {
		t.Errorf("%s must be readable and executable by the image's non-root user: %v %v", imageBinary, info.Mode(), err)
	}
	checkStatic(t, bin)
	// The image's config is the one in this repository.
	if got, want := mustRead(t, config), mustRead(t, imageConfigFile); !bytes.Equal(got, want) {
		t.Errorf("the image's %s differs from %s: rebuild the image", imageConfig, imageConfigFile)
	}
	var fileCfg map[string]any
	if err := yaml.Unmarshal(mustRead(t, config), &fileCfg); err != nil {
		t.Fatal(err)
	}
	if fileCfg["listen"] != "0.0.0.0:6001" || fileCfg["metrics_listen"] != "0.0.0.0:9601" {
		t.Errorf("the image's config listens on %v and %v, want 0.0.0.0:6001 and 0.0.0.0:9601", fileCfg["listen"], fileCfg["metrics_listen"])
	}
	u, _ := url.Parse(imageHealthURL)
	if !strings.HasSuffix(fileCfg["metrics_listen"].(string), ":"+u.Port()) {
		t.Errorf("the HEALTHCHECK probes port %s, metrics_listen is %v", u.Port(), fileCfg["metrics_listen"])
	}

	// The image has no credentials: without them herald refuses to start.
	cmd := exec.Command(bin, cfg.Cmd...)
	cmd.Args[2] = config
	cmd.Env = append(cleanEnv(), "HERALD_LISTEN=127.0.0.1:0", "HERALD_METRICS_LISTEN=127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "id, key and secret are required") {
		t.Errorf("the image's herald without HERALD_APPS__0__*: %v %s; want a refusal", err, out)
	}

	// With them (and 127.0.0.1 instead of 0.0.0.0) it serves.
	a := app{id: "image-app", key: "image-key", secret: "image-secret"}
	cmd = exec.Command(bin, cfg.Cmd...)
	cmd.Args[2] = config
	cmd.Env = append(cleanEnv(), "HERALD_LISTEN=127.0.0.1:0", "HERALD_METRICS_LISTEN=127.0.0.1:0",
		"HERALD_APPS__0__ID="+a.id, "HERALD_APPS__0__KEY="+a.key, "HERALD_APPS__0__SECRET="+a.secret)
	p := startHerald(t, cmd)
	for _, path := range []string{"/up", "/ready"} {
		if code, body := httpGet(t, p.metricsBase()+path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	c := connect(t, p.wsBase(), a.key, 0)
	c.subscribe(t, "image-test", "", "")
	a.trigger(t, p.httpBase(), "image-test", "hello", "from the image")
	if f := c.expect(t, "hello", "image-test"); f.dataString() != "from the image" {
		t.Errorf("event data %q", f.dataString())
	}
	// The HEALTHCHECK's command, at the port this herald got.
	health := slices.Clone(hc.Test[1:])
	health[0] = bin
	health[2] = "http://" + p.metrics + u.Path
	if out, err := exec.Command(health[0], health[1:]...).CombinedOutput(); err != nil {
		t.Errorf("healthcheck %v: %v %s", health, err, out)
	}
	checkProbe(t, bin)
	p.terminate()
	c.expectGoingAway(t)
	if err := p.wait(t); err != nil {
		t.Errorf("the image's herald exited with %v after SIGTERM\nstderr:\n%s", err, p.stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkStatic: the binary needs no loader or shared library (FROM scratch has none) and was
// built with CGO_ENABLED=0 and -trimpath.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the image's herald has a program interpreter: it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the image's herald needs shared libraries %v", libs)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("built with CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	if bi.Path != "github.com/herald-io/herald/cmd/herald" {
		t.Errorf("the image's binary is %s", bi.Path)
	}
}
