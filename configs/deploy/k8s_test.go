package deploy

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// The k8s cluster provider runs in a pod: it reads the service account's token, CA and
// namespace from /var/run/secrets/kubernetes.io/serviceaccount, finds its own pod by host name
// and talks to the API server named by KUBERNETES_SERVICE_HOST/PORT. This test gives a herald
// process exactly that: a private mount namespace with those files (the test binary re-runs
// itself as a small shim that mounts them, sets the host name and execs herald) and an API
// server on 127.0.0.1 that records every request. It proves that the chart's config and
// environment make a working member, and that the provider needs exactly the Role's verbs.

// shimEnv, when set, makes the test binary the namespace shim (see TestMain).
const shimEnv = "HERALD_DEPLOY_NAMESPACE_SHIM"

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

type shimConfig struct {
	Hostname string            `json:"hostname"`
	Files    map[string]string `json:"files"` // name in serviceAccountDir -> content
	Exec     []string          `json:"exec"`
}

// runNamespaceShim runs in a child made with new mount and UTS namespaces: it mounts a tmpfs
// over /var/run (private to this namespace), writes the service account files, sets the host
// name to the pod's name and execs herald.
func runNamespaceShim() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "namespace shim:", err)
		os.Exit(111)
	}
	var cfg shimConfig
	if err := json.Unmarshal([]byte(os.Getenv(shimEnv)), &cfg); err != nil {
		fail(err)
	}
	if err := syscall.Sethostname([]byte(cfg.Hostname)); err != nil {
		fail(fmt.Errorf("sethostname: %w", err))
	}
	if err := syscall.Mount("tmpfs", "/var/run", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1m,mode=0755"); err != nil {
		fail(fmt.Errorf("mount tmpfs on /var/run: %w", err))
	}
	if err := os.MkdirAll(serviceAccountDir, 0o755); err != nil {
		fail(err)
	}
	for name, content := range cfg.Files {
		if err := os.WriteFile(filepath.Join(serviceAccountDir, name), []byte(content), 0o644); err != nil {
			fail(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, shimEnv+"=") {
			env = append(env, kv)
		}
	}
	fail(syscall.Exec(cfg.Exec[0], cfg.Exec, env))
}

// apiRequest is one request the fake API server got, in RBAC's terms.
type apiRequest struct {
	verb, namespace, resource, name string
}

// fakeAPI is the part of the Kubernetes API that the provider uses, for pods of one namespace,
// recording each request's verb as RBAC would name it.
type fakeAPI struct {
	server    *httptest.Server
	token     string
	namespace string

	mu         sync.Mutex
	pods       map[string]*corev1.Pod
	requests   []apiRequest
	unexpected []string
	labelLog   []map[string]string // the pod's labels after each patch
	watchers   map[chan struct{}]bool
}

func newFakeAPI(t *testing.T, namespace string, pods ...*corev1.Pod) *fakeAPI {
	t.Helper()
	f := &fakeAPI{token: "test-token-" + strconv.Itoa(os.Getpid()), namespace: namespace,
		pods: map[string]*corev1.Pod{}, watchers: map[chan struct{}]bool{}}
	for _, p := range pods {
		f.pods[p.Name] = p
	}
	f.server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

func (f *fakeAPI) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.server.Certificate().Raw}))
}

func (f *fakeAPI) hostPort() (string, string) {
	h, p, _ := net.SplitHostPort(f.server.Listener.Addr().String())
	return h, p
}

func (f *fakeAPI) reject(w http.ResponseWriter, code int, why string) {
	f.mu.Lock()
	f.unexpected = append(f.unexpected, why)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Message: why, Code: int32(code)})
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		f.reject(w, http.StatusUnauthorized, "request without the service account's token: "+r.Method+" "+r.URL.Path)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// api/v1/namespaces/{ns}/pods[/{name}]
	if len(parts) < 5 || len(parts) > 6 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "namespaces" || parts[4] != "pods" {
		f.reject(w, http.StatusNotFound, "unexpected path "+r.Method+" "+r.URL.String())
		return
	}
	ns, name := parts[3], ""
	if len(parts) == 6 {
		name = parts[5]
	}
	watching := r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1"
	verb := ""
	switch {
	case r.Method == http.MethodGet && name != "":
		verb = "get"
	case r.Method == http.MethodGet && watching:
		verb = "watch"
	case r.Method == http.MethodGet:
		verb = "list"
	case r.Method == http.MethodPatch && name != "":
		verb = "patch"
	default:
		f.reject(w, http.StatusMethodNotAllowed, "unexpected request "+r.Method+" "+r.URL.String())
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, apiRequest{verb: verb, namespace: ns, resource: "pods", name: name})
	f.mu.Unlock()
	if ns != f.namespace {
		f.reject(w, http.StatusForbidden, "request outside the pod's namespace: "+r.URL.String())
		return
	}
	switch verb {
	case "get":
		f.mu.Lock()
		p := f.pods[name]
		f.mu.Unlock()
		if p == nil {
			f.reject(w, http.StatusNotFound, "no pod "+name)
			return
		}
		writeJSON(w, p)
	case "patch":
		f.patch(w, r, name)
	case "watch":
		f.watch(w, r)
	case "list":
		f.mu.Lock()
		list := &corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
		for _, p := range f.pods {
			list.Items = append(list.Items, *p)
		}
		f.mu.Unlock()
		writeJSON(w, list)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// patch applies a JSON patch that replaces the pod's labels, the one patch the provider makes.
func (f *fakeAPI) patch(w http.ResponseWriter, r *http.Request, name string) {
	if ct := r.Header.Get("Content-Type"); ct != string(types.JSONPatchType) {
		f.reject(w, http.StatusUnsupportedMediaType, "patch with content type "+ct)
		return
	}
	var ops []struct {
		Op    string            `json:"op"`
		Path  string            `json:"path"`
		Value map[string]string `json:"value"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &ops); err != nil {
		f.reject(w, http.StatusBadRequest, "patch body: "+err.Error()+": "+string(body))
		return
	}
	f.mu.Lock()
	p := f.pods[name]
	if p == nil {
		f.mu.Unlock()
		f.reject(w, http.StatusNotFound, "patch of unknown pod "+name)
		return
	}
	for _, op := range ops {
		if op.Op != "replace" || op.Path != "/metadata/labels" {
			f.mu.Unlock()
			f.reject(w, http.StatusUnprocessableEntity, "unexpected patch operation "+string(body))
			return
		}
		p.Labels = op.Value
	}
	p.ResourceVersion = strconv.Itoa(len(f.labelLog) + 2)
	f.labelLog = append(f.labelLog, p.Labels)
	for ch := range f.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	f.mu.Unlock()
	writeJSON(w, p)
}

// watch streams the pods that match the label selector: ADDED when a pod starts to match,
// MODIFIED when a matching pod changes, DELETED when it stops matching.
func (f *fakeAPI) watch(w http.ResponseWriter, r *http.Request) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		f.reject(w, http.StatusBadRequest, "labelSelector: "+err.Error())
		return
	}
	changed := make(chan struct{}, 1)
	changed <- struct{}{}
	f.mu.Lock()
	f.watchers[changed] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.watchers, changed)
		f.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	sent := map[string]string{} // pod name -> resource version sent
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
		type event struct {
			Type   string      `json:"type"`
			Object *corev1.Pod `json:"object"`
		}
		var events []event
		f.mu.Lock()
		for name, p := range f.pods {
			v, was := sent[name]
			matches := sel.Matches(labels.Set(p.Labels))
			switch {
			case matches && !was:
				events = append(events, event{"ADDED", p.DeepCopy()})
				sent[name] = p.ResourceVersion
			case matches && v != p.ResourceVersion:
				events = append(events, event{"MODIFIED", p.DeepCopy()})
				sent[name] = p.ResourceVersion
			case !matches && was:
				events = append(events, event{"DELETED", p.DeepCopy()})
				delete(sent, name)
			}
		}
		f.mu.Unlock()
		for _, e := range events {
			if err := enc.Encode(e); err != nil {
				return
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

func (f *fakeAPI) snapshot() (reqs []apiRequest, unexpected []string, labelLog []map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests), slices.Clone(f.unexpected), slices.Clone(f.labelLog)
}

// runningPod is a pod as the API shows a running, ready herald pod of the Deployment.
func runningPod(name, namespace string, podLabels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, UID: types.UID("uid-" + name),
			ResourceVersion: "1", Labels: podLabels},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "herald", Ready: true, Image: "herald:dev"}},
		},
	}
}

// TestK8sClusterProvider starts herald as one pod of the chart's Deployment against a
// recording API server: it must register (label its pod), watch, become a one-member cluster
// that serves, and deregister on SIGTERM, using exactly the Role's verbs.
func TestK8sClusterProvider(t *testing.T) {
	clusterPort := freePort(t)
	r := render(t, "--set", "ports.cluster="+strconv.Itoa(clusterPort), "--set", "apps[0].id=k8s-app",
		"--set", "apps[0].key=k8s-key", "--set", "apps[0].secret=k8s-secret-0123456789")
	checkCluster(t, r)
	podName := r.deployment.Name + "-7c9d8f6b5d-x2x4q"
	api := newFakeAPI(t, renderNamspace, runningPod(podName, renderNamspace, r.deployment.Spec.Template.Labels))

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, r.heraldYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shim, err := json.Marshal(shimConfig{
		Hostname: podName,
		Files:    map[string]string{"token": api.token, "ca.crt": api.caPEM(), "namespace": renderNamspace},
		Exec:     []string{heraldBinary(t), "--config", cfgPath},
	})
	if err != nil {
		t.Fatal(err)
	}
	host, port := api.hostPort()
	cmd := exec.Command(self)
	cmd.Env = append(append(cleanEnv(), podEnv(t, r, map[string]string{"status.podIP": "127.0.0.1", "metadata.name": podName})...),
		"HERALD_LISTEN=127.0.0.1:0", "HERALD_METRICS_LISTEN=127.0.0.1:0",
		"KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port, shimEnv+"="+string(shim))
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	if os.Geteuid() != 0 {
		missingTool(t, "private mount and UTS namespaces need root (uid %d)", os.Geteuid())
	}
	p := startHerald(t, cmd)

	clusterName := r.heraldYAMLValue["cluster"].(map[string]any)["name"].(string)
	// The member labels its pod, sees it through the watch, and counts itself.
	eventually(t, "herald_cluster_members 1", func() bool {
		_, body := httpGet(t, p.metricsBase()+"/metrics")
		return strings.Contains(body, "\nherald_cluster_members 1\n")
	})
	_, _, labelLog := api.snapshot()
	if len(labelLog) == 0 {
		t.Fatal("the member never labelled its pod")
	}
	registered := labelLog[0]
	for k, v := range map[string]string{
		"cluster.proto.actor/cluster":      clusterName,
		"cluster.proto.actor/port":         strconv.Itoa(clusterPort),
		"cluster.proto.actor/kind-channel": "true",
		"cluster.proto.actor/kind-user":    "true",
	} {
		if registered[k] != v {
			t.Errorf("pod label %s = %q, want %q (labels %v)", k, registered[k], v, registered)
		}
	}
	for k, v := range r.deployment.Spec.Template.Labels {
		if registered[k] != v {
			t.Errorf("the member dropped the pod's label %s=%s (the Deployment's selector needs it): %v", k, v, registered)
		}
	}

	// One member is a whole cluster: channels are grains placed on it.
	a := app{id: "k8s-app", key: "k8s-key", secret: "k8s-secret-0123456789"}
	c := connect(t, p.wsBase(), a.key, 0)
	c.subscribe(t, "k8s-test", "", "")
	a.trigger(t, p.httpBase(), "k8s-test", "hello", "through the cluster")
	if f := c.expect(t, "hello", "k8s-test"); f.dataString() != "through the cluster" {
		t.Errorf("event data %q", f.dataString())
	}

	p.terminate()
	c.expectGoingAway(t)
	if err := p.wait(t); err != nil {
		t.Fatalf("herald exited with %v after SIGTERM\nstderr:\n%s", err, p.stderr)
	}
	reqs, unexpected, labelLog := api.snapshot()
	if len(unexpected) > 0 {
		t.Errorf("requests the fake API did not expect: %q", unexpected)
	}
	// Leaving: the last patch removed the provider's labels and kept the Deployment's.
	last := labelLog[len(labelLog)-1]
	for k := range last {
		if strings.HasPrefix(k, "cluster.proto.actor/") {
			t.Errorf("after SIGTERM the pod still has %s: the member did not deregister (labels %v)", k, last)
		}
	}
	if !labels.SelectorFromSet(r.deployment.Spec.Template.Labels).Matches(labels.Set(last)) {
		t.Errorf("after deregistering, the pod's labels %v no longer match the Deployment", last)
	}
	// Exactly the Role's verbs, on the own pod or the namespace's pods.
	var verbs []string
	for _, q := range reqs {
		if !slices.Contains(verbs, q.verb) {
			verbs = append(verbs, q.verb)
		}
		if q.name != "" && q.name != podName {
			t.Errorf("%s of pod %s, not its own pod %s", q.verb, q.name, podName)
		}
	}
	slices.Sort(verbs)
	if !slices.Equal(verbs, providerVerbs) {
		t.Errorf("the provider used verbs %v; the chart's Role grants %v", verbs, providerVerbs)
	}
	t.Logf("API requests: %v", reqs)
}
