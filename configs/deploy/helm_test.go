package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	chartDir       = "helm/herald"
	allOptions     = "testdata/all-options.yaml"
	helmVersion    = "v3.22.0"
	renderRelease  = "herald"
	renderNamspace = "realtime"
)

// helmBinary is helm v3.22.0: $HERALD_HELM, else the repository's bin/helm (where
// `go tool task deploy:helm` installs it), else helm on the PATH.
func helmBinary(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("HERALD_HELM"), filepath.Join(repoRoot(t), "bin", "helm")}
	if p, err := exec.LookPath("helm"); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err != nil {
			continue
		}
		out, err := exec.Command(c, "version", "--short").Output()
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(out)), helmVersion) {
			return c
		}
	}
	missingTool(t, "helm %s not found ($HERALD_HELM, bin/helm, PATH)", helmVersion)
	return ""
}

func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// rendered is the chart's output, each object strictly decoded into its API type.
type rendered struct {
	deployment      *appsv1.Deployment
	configMap       *corev1.ConfigMap
	secret          *corev1.Secret
	serviceAccount  *corev1.ServiceAccount
	role            *rbacv1.Role
	roleBinding     *rbacv1.RoleBinding
	services        map[string]*corev1.Service
	pdb             *policyv1.PodDisruptionBudget
	serviceMonitor  *monitoringv1.ServiceMonitor
	kinds           []string
	heraldYAML      []byte
	heraldYAMLValue map[string]any
}

// render runs helm template with args and decodes every object as the API server would:
// unknown fields, duplicate fields and wrongly cased field names are errors.
func render(t *testing.T, args ...string) *rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", renderRelease, chartDir, "--namespace", renderNamspace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{services: map[string]*corev1.Service{}}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading helm's output: %v", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("object without apiVersion/kind: %v\n%s", err, doc)
		}
		gvk := meta.APIVersion + "/" + meta.Kind
		var obj any
		switch gvk {
		case "apps/v1/Deployment":
			r.deployment = &appsv1.Deployment{}
			obj = r.deployment
		case "v1/ConfigMap":
			r.configMap = &corev1.ConfigMap{}
			obj = r.configMap
		case "v1/Secret":
			r.secret = &corev1.Secret{}
			obj = r.secret
		case "v1/ServiceAccount":
			r.serviceAccount = &corev1.ServiceAccount{}
			obj = r.serviceAccount
		case "rbac.authorization.k8s.io/v1/Role":
			r.role = &rbacv1.Role{}
			obj = r.role
		case "rbac.authorization.k8s.io/v1/RoleBinding":
			r.roleBinding = &rbacv1.RoleBinding{}
			obj = r.roleBinding
		case "v1/Service":
			obj = &corev1.Service{}
		case "policy/v1/PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			obj = r.pdb
		case "monitoring.coreos.com/v1/ServiceMonitor":
			r.serviceMonitor = &monitoringv1.ServiceMonitor{}
			obj = r.serviceMonitor
		default:
			t.Fatalf("the chart renders %s, which this test does not know: add its type", gvk)
		}
		decodeStrict(t, gvk, doc, obj)
		if s, ok := obj.(*corev1.Service); ok {
			r.services[s.Name] = s
		}
		r.kinds = append(r.kinds, meta.Kind)
	}
	if r.configMap != nil {
		r.heraldYAML = []byte(r.configMap.Data["herald.yaml"])
		if err := yaml.UnmarshalStrict(r.heraldYAML, &r.heraldYAMLValue); err != nil {
			t.Fatalf("herald.yaml in the ConfigMap: %v\n%s", err, r.heraldYAML)
		}
	}
	return r
}

// decodeStrict decodes one YAML object into obj the way the API server's strict field
// validation does.
func decodeStrict(t *testing.T, what string, doc []byte, obj any) {
	t.Helper()
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, doc)
	}
	strictErrs, err := k8sjson.UnmarshalStrict(j, obj, k8sjson.DisallowDuplicateFields, k8sjson.DisallowUnknownFields)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, doc)
	}
	if len(strictErrs) > 0 {
		t.Fatalf("%s: %v\n%s", what, strictErrs, doc)
	}
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func (r *rendered) container(t *testing.T) corev1.Container {
	t.Helper()
	if r.deployment == nil {
		t.Fatal("no Deployment rendered")
	}
	cs := r.deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "herald" {
		t.Fatalf("want one container named herald, have %d", len(cs))
	}
	return cs[0]
}

func (r *rendered) podLabels() labels.Set {
	return labels.Set(r.deployment.Spec.Template.Labels)
}

// selects reports whether a label selector picks the Deployment's pods.
func (r *rendered) selects(t *testing.T, what string, sel *metav1.LabelSelector) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		t.Fatalf("%s: selector %v: %v (empty: %v)", what, sel, err, err == nil && s.Empty())
	}
	if !s.Matches(r.podLabels()) {
		t.Errorf("%s: selector %s does not select the pods (labels %v)", what, s, r.podLabels())
	}
}

func (r *rendered) env(t *testing.T, name string) corev1.EnvVar {
	t.Helper()
	for _, e := range r.container(t).Env {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("container has no env %s", name)
	return corev1.EnvVar{}
}

func (r *rendered) port(t *testing.T, name string) int32 {
	t.Helper()
	for _, p := range r.container(t).Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container has no port named %s", name)
	return 0
}

func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{{}, {"-f", allOptions}} {
		out, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(string(out), "1 chart(s) linted, 0 chart(s) failed") {
			t.Fatalf("helm lint %v:\n%s", args, out)
		}
	}
}

// checkCommon holds what every rendering must get right, whatever the values.
func checkCommon(t *testing.T, r *rendered) {
	t.Helper()
	d := r.deployment
	c := r.container(t)
	spec := d.Spec.Template.Spec
	r.selects(t, "Deployment", d.Spec.Selector)

	// Probes on the metrics port: /ready for readiness, /up for liveness.
	metricsPort := r.port(t, "metrics")
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/ready"}, {"liveness", c.LivenessProbe, "/up"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe: want GET %s on port metrics, have %+v", p.name, p.path, p.probe)
		}
	}
	if got := r.heraldYAMLValue["metrics_listen"]; got != "0.0.0.0:"+strconv.Itoa(int(metricsPort)) {
		t.Errorf("metrics_listen %v does not match the metrics port %d", got, metricsPort)
	}
	if got := r.heraldYAMLValue["listen"]; got != "0.0.0.0:"+strconv.Itoa(int(r.port(t, "http"))) {
		t.Errorf("listen %v does not match the http port %d", got, r.port(t, "http"))
	}

	// Kubernetes must not kill herald before its own shutdown_grace has run out.
	grace, err := time.ParseDuration(fmt.Sprint(r.heraldYAMLValue["shutdown_grace"]))
	if err != nil {
		t.Fatalf("shutdown_grace: %v", err)
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Exec != nil {
			t.Errorf("preStop must be a sleep action (the image has no shell): %+v", c.Lifecycle.PreStop)
		} else {
			preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
	}
	if spec.TerminationGracePeriodSeconds == nil || time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second <= grace+preStop {
		t.Errorf("terminationGracePeriodSeconds %v is not above shutdown_grace %v + preStop %v", spec.TerminationGracePeriodSeconds, grace, preStop)
	}

	// Non-root, read-only, nothing extra.
	psc, csc := spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod must run as a non-root UID: %+v", psc)
	}
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil ||
		*csc.AllowPrivilegeEscalation || csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context: want read-only root, no privilege escalation, all capabilities dropped: %+v", csc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("want cpu and memory requests and a memory limit: %+v", c.Resources)
	}

	// The config comes from the ConfigMap, mounted where the args point.
	if !slices.Equal(c.Args, []string{"--config", "/etc/herald/herald.yaml"}) {
		t.Errorf("args %v", c.Args)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name == m.Name && m.MountPath == "/etc/herald" && v.ConfigMap != nil && v.ConfigMap.Name == r.configMap.Name {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("the ConfigMap %s is not mounted at /etc/herald", r.configMap.Name)
	}

	// No credential in the ConfigMap; every app's id, key and secret from the Secret.
	apps, _ := r.heraldYAMLValue["apps"].([]any)
	if len(apps) == 0 {
		t.Fatalf("herald.yaml has no apps: %s", r.heraldYAML)
	}
	for i, a := range apps {
		m, _ := a.(map[string]any)
		for _, k := range []string{"id", "key", "secret"} {
			if _, ok := m[k]; ok {
				t.Errorf("herald.yaml apps[%d] has %s: credentials belong in the Secret", i, k)
			}
		}
	}
	secretName := ""
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			secretName = ef.SecretRef.Name
		}
	}
	if secretName == "" {
		t.Fatal("the container takes no env from a Secret")
	}
	if r.secret != nil {
		if r.secret.Name != secretName {
			t.Errorf("envFrom names Secret %s, the chart renders %s", secretName, r.secret.Name)
		}
		for i := range apps {
			for _, k := range []string{"ID", "KEY", "SECRET"} {
				name := fmt.Sprintf("HERALD_APPS__%d__%s", i, k)
				if len(r.secret.Data[name]) == 0 {
					t.Errorf("Secret has no %s", name)
				}
			}
		}
	}
	for k, v := range r.configMap.Data {
		if r.secret == nil {
			continue
		}
		for sk, sv := range r.secret.Data {
			if strings.HasSuffix(sk, "__SECRET") && strings.Contains(v, string(sv)) {
				t.Errorf("ConfigMap key %s holds the value of %s", k, sk)
			}
		}
	}

	// Services select the pods and target named ports that exist.
	for name, s := range r.services {
		r.selects(t, "Service "+name, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		for _, p := range s.Spec.Ports {
			r.port(t, p.TargetPort.String())
		}
	}
	if r.pdb != nil {
		r.selects(t, "PodDisruptionBudget", r.pdb.Spec.Selector)
	}
}

// checkCluster holds what the k8s cluster provider needs.
func checkCluster(t *testing.T, r *rendered) {
	t.Helper()
	spec := r.deployment.Spec.Template.Spec
	cluster, _ := r.heraldYAMLValue["cluster"].(map[string]any)
	if cluster["enabled"] != true || cluster["provider"] != "k8s" || cluster["name"] == "" {
		t.Errorf("herald.yaml cluster: want enabled, provider k8s and a name, have %v", cluster)
	}
	// The member's address is the pod IP, from the downward API, and the cluster port.
	podIP := r.env(t, "POD_IP")
	if podIP.ValueFrom == nil || podIP.ValueFrom.FieldRef == nil || podIP.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("POD_IP must come from status.podIP: %+v", podIP)
	}
	want := fmt.Sprintf("$(POD_IP):%d", r.port(t, "cluster"))
	if got := r.env(t, "HERALD_CLUSTER__ADDRESS").Value; got != want {
		t.Errorf("HERALD_CLUSTER__ADDRESS = %q, want %q", got, want)
	}
	// $(POD_IP) only expands when POD_IP is defined before it.
	names := []string{}
	for _, e := range r.container(t).Env {
		names = append(names, e.Name)
	}
	if slices.Index(names, "POD_IP") > slices.Index(names, "HERALD_CLUSTER__ADDRESS") {
		t.Errorf("POD_IP must come before HERALD_CLUSTER__ADDRESS in env: %v", names)
	}
	// The provider's API access: the token mounted, bound to a Role of exactly get/watch/patch on pods.
	if spec.AutomountServiceAccountToken == nil || !*spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be true: the provider uses the pod's token and namespace file")
	}
	if r.role == nil || r.roleBinding == nil {
		t.Fatal("no Role or RoleBinding rendered")
	}
	if len(r.role.Rules) != 1 {
		t.Fatalf("want one rule, have %+v", r.role.Rules)
	}
	rule := r.role.Rules[0]
	verbs := slices.Clone(rule.Verbs)
	slices.Sort(verbs)
	if !slices.Equal(rule.APIGroups, []string{""}) || !slices.Equal(rule.Resources, []string{"pods"}) ||
		!slices.Equal(verbs, providerVerbs) || len(rule.ResourceNames) > 0 {
		t.Errorf("Role rule %+v, want exactly %v on core pods", rule, providerVerbs)
	}
	rb := r.roleBinding
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != r.role.Name || rb.RoleRef.APIGroup != "rbac.authorization.k8s.io" {
		t.Errorf("RoleBinding refers to %+v, not Role %s", rb.RoleRef, r.role.Name)
	}
	if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != spec.ServiceAccountName ||
		rb.Subjects[0].Namespace != renderNamspace {
		t.Errorf("RoleBinding subjects %+v, want the pod's service account %s in %s", rb.Subjects, spec.ServiceAccountName, renderNamspace)
	}
	// The provider finds its pod by host name, which Kubernetes cuts at 63 characters: the
	// Deployment's pods are named NAME-<10>-<5>.
	if n := len(r.deployment.Name) + 17; n > 63 {
		t.Errorf("Deployment name %q makes %d-character pod names: the provider could not find its pod", r.deployment.Name, n)
	}
}

// providerVerbs are the API verbs proto.actor's k8s provider uses (k8s_test.go proves it
// against a recording API server).
var providerVerbs = []string{"get", "patch", "watch"}

func TestHelmDefaults(t *testing.T) {
	r := render(t)
	slices.Sort(r.kinds)
	want := []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding", "Secret", "Service", "Service", "ServiceAccount"}
	if !slices.Equal(r.kinds, want) {
		t.Fatalf("kinds %v, want %v", r.kinds, want)
	}
	checkCommon(t, r)
	checkCluster(t, r)
	if *r.deployment.Spec.Replicas < 2 {
		t.Errorf("default replicas %d: a cluster by default", *r.deployment.Spec.Replicas)
	}
	if s := r.deployment.Spec.Strategy; s.RollingUpdate == nil || s.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update must not take a pod down before its replacement is ready: %+v", s)
	}
	if r.serviceMonitor != nil {
		t.Error("ServiceMonitor is rendered by default (it needs prometheus-operator's CRD)")
	}
	// Behind an ingress all sockets share a few addresses: no per-address limit by default.
	if got := r.heraldYAMLValue["connection_rate_per_ip"]; got != float64(0) {
		t.Errorf("connection_rate_per_ip %v by default, want 0", got)
	}
	// The chart generates credentials: never the well-known defaults.
	for k, v := range r.secret.Data {
		if string(v) == "app-key" || string(v) == "app-secret" {
			t.Errorf("Secret %s is the well-known default %q", k, v)
		}
		if strings.HasSuffix(k, "__SECRET") && len(v) < 32 {
			t.Errorf("generated secret %s has %d characters", k, len(v))
		}
	}
	// The metrics Service is not the public one.
	public := r.services[renderRelease]
	if public == nil {
		t.Fatalf("no Service %s (have %v)", renderRelease, r.services)
	}
	for _, p := range public.Spec.Ports {
		if p.TargetPort.String() == "metrics" {
			t.Error("the public Service exposes the metrics port")
		}
	}
}

func TestHelmAllOptions(t *testing.T) {
	r := render(t, "-f", allOptions)
	slices.Sort(r.kinds)
	want := []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "Service", "ServiceAccount", "ServiceMonitor"}
	if !slices.Equal(r.kinds, want) {
		t.Fatalf("kinds %v, want %v (existingSecret: no Secret of the chart's)", r.kinds, want)
	}
	checkCommon(t, r)
	checkCluster(t, r)
	c := r.container(t)
	if c.EnvFrom[0].SecretRef.Name != "pusher-apps" {
		t.Errorf("envFrom %+v, want the existing Secret pusher-apps", c.EnvFrom)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 {
		t.Errorf("preStop sleep 5 s missing: %+v", c.Lifecycle)
	}
	if got := *r.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 35 {
		t.Errorf("terminationGracePeriodSeconds %d, want 20 + 10 + 5", got)
	}
	sm := r.serviceMonitor
	metrics := r.services["pusher-edge-metrics"]
	if metrics == nil {
		t.Fatalf("no metrics Service pusher-edge-metrics (have %v)", r.services)
	}
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(metrics.Labels)) || sel.Matches(labels.Set(r.services["pusher-edge"].Labels)) {
		t.Errorf("ServiceMonitor selector %v must pick the metrics Service only", sm.Spec.Selector)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
	}
	if sm.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v", sm.Labels)
	}
	cfg := r.heraldYAMLValue
	if cfg["connection_rate_per_ip"] != float64(50) || cfg["activity_timeout"] != "60s" {
		t.Errorf("config values not in herald.yaml: %s", r.heraldYAML)
	}
	if apps := cfg["apps"].([]any); len(apps) != 2 {
		t.Errorf("want 2 apps in herald.yaml, have %v", apps)
	}
}

// TestHelmRefusesBadValues: values that would make a broken deployment fail to render (by the
// chart's checks or its values.schema.json).
func TestHelmRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "config.listen=0.0.0.0:1"}, "config.listen is set by the chart"},
		{[]string{"--set", "config.apps=x"}, "config.apps is set by the chart"},
		{[]string{"--set", "cluster.enabled=false"}, "replicaCount > 1 needs cluster.enabled"},
		{[]string{"--set", "terminationGraceExtraSeconds=0"}, "/terminationGraceExtraSeconds"},
		{[]string{"--set", "apps[0].key=k"}, "missing property 'id'"},
		{[]string{"--set", "replicacount=2"}, "additional properties 'replicacount' not allowed"},
		{[]string{"--set", "apps[0].id=a", "--set", "apps[0].webhooks[0].url=ftp://x"}, "/apps/0/webhooks/0/url"},
		// herald refuses a secret under 16 bytes on the pod's 0.0.0.0: helm says so first.
		{[]string{"--set", "apps[0].id=a", "--set", "apps[0].secret=short"}, "/apps/0/secret"},
	} {
		_, err := helm(t, append([]string{"template", renderRelease, chartDir}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("helm template %v: want an error saying %q, got %v", tc.args, tc.want, err)
		}
	}
}

// podEnv computes the container's environment as the kubelet would: valueFrom from the given
// pod fields and the rendered Secret, envFrom, and $(VAR) references to variables before.
func podEnv(t *testing.T, r *rendered, fields map[string]string) []string {
	t.Helper()
	c := r.container(t)
	env := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef == nil || r.secret == nil || ef.SecretRef.Name != r.secret.Name {
			t.Fatalf("envFrom %+v: only the rendered Secret is known here", ef)
		}
		for k, v := range r.secret.Data {
			set(ef.Prefix+k, string(v))
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			set(e.Name, os.Expand(strings.ReplaceAll(strings.ReplaceAll(e.Value, "$(", "${"), ")", "}"), func(k string) string {
				v, ok := env[k]
				if !ok {
					t.Fatalf("env %s refers to $(%s), which is not defined before it", e.Name, k)
				}
				return v
			}))
		case e.ValueFrom.FieldRef != nil:
			v, ok := fields[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("env %s: field %s is not known here", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			set(e.Name, v)
		default:
			t.Fatalf("env %s: valueFrom %+v is not known here", e.Name, e.ValueFrom)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+env[k])
	}
	return out
}

// TestHelmConfigStartsHerald runs herald with the config and the environment the chart renders
// for a single pod without a cluster: it loads and serves.
func TestHelmConfigStartsHerald(t *testing.T) {
	// --set replaces the whole apps list, so the app is given whole.
	r := render(t, "--set", "replicaCount=1", "--set", "cluster.enabled=false", "--set", "apps[0].id=herald-app",
		"--set", "apps[0].key=chart-key", "--set", "apps[0].secret=chart-secret-0123456789")
	checkCommon(t, r)
	if r.role != nil {
		t.Error("a Role is rendered without a cluster")
	}
	if spec := r.deployment.Spec.Template.Spec; spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("without a cluster the pod needs no API token")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfg, r.heraldYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	env := podEnv(t, r, map[string]string{"status.podIP": "127.0.0.1", "metadata.name": "herald-5d8f7c9b6d-x2x4q"})
	cmd := exec.Command(heraldBinary(t), r.container(t).Args...)
	cmd.Args[2] = cfg
	// The chart's addresses are 0.0.0.0 and fixed ports: tests stay on 127.0.0.1 and free ports.
	cmd.Env = append(append(cleanEnv(), env...), "HERALD_LISTEN=127.0.0.1:0", "HERALD_METRICS_LISTEN=127.0.0.1:0")
	p := startHerald(t, cmd)
	for _, path := range []string{"/up", "/ready"} {
		if code, body := httpGet(t, p.metricsBase()+path); code != 200 {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	a := app{id: "herald-app", key: "chart-key", secret: "chart-secret-0123456789"}
	c := connect(t, p.wsBase(), a.key, 0)
	c.subscribe(t, "chart-test", "", "")
	a.trigger(t, p.httpBase(), "chart-test", "hello", "from the chart's config")
	if f := c.expect(t, "hello", "chart-test"); f.dataString() != "from the chart's config" {
		t.Errorf("event data %q", f.dataString())
	}
	p.terminate()
	c.expectGoingAway(t)
	if err := p.wait(t); err != nil {
		t.Errorf("herald exited with %v after SIGTERM\nstderr:\n%s", err, p.stderr)
	}
}
