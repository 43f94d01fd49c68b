package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

const (
	alertsFile    = "prometheus/alerts.yaml"
	dashboardFile = "grafana/herald.json"
)

// scrapeLabels are added by Prometheus (or its Kubernetes service discovery) to every series;
// herald's /metrics does not have them.
var scrapeLabels = []string{"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

var promqlParser = parser.NewParser(parser.Options{})

// loadRules parses alerts.yaml as Prometheus does (unknown fields are errors; every expr is
// parsed; every annotation template is checked).
func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, promqlParser, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		t.Fatalf("%s does not load: %v", alertsFile, errs)
	}
	return groups
}

// query is one PromQL expression and where it comes from.
type query struct {
	where string
	expr  string
}

func ruleQueries(t *testing.T) []query {
	t.Helper()
	var out []query
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			out = append(out, query{where: alertsFile + ": " + r.Alert + r.Record, expr: r.Expr})
		}
	}
	return out
}

// grafanaVars are the dashboard's variables with values that make its queries plain PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "${__rate_interval}", "5m", "$app", "app-id", "${app}", "app-id")

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    map[string]int `json:"gridPos"`
	Targets    []panelTarget  `json:"targets"`
	Panels     []panel        `json:"panels"`
}

type panelTarget struct {
	Expr       string         `json:"expr"`
	RefID      string         `json:"refId"`
	Datasource *datasourceRef `json:"datasource"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels is every panel, those in collapsed rows included.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var labelValuesRE = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// dashboardQueries are the panels' queries with the variables replaced, and the metric
// selectors of the query variables (label_values(metric, label) becomes metric{label!=""}).
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	d := loadDashboard(t)
	var out []query
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out = append(out, query{where: fmt.Sprintf("%s: panel %q ref %s", dashboardFile, p.Title, tg.RefID), expr: grafanaVars.Replace(tg.Expr)})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var s string
			if err := json.Unmarshal(v.Query, &s); err != nil {
				t.Fatalf("variable %s: query is neither an object nor a string: %s", v.Name, v.Query)
			}
			q.Query = s
		}
		m := labelValuesRE.FindStringSubmatch(strings.TrimSpace(q.Query))
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(metric, label)", v.Name, q.Query)
		}
		out = append(out, query{where: dashboardFile + ": variable " + v.Name, expr: m[1] + `{` + m[2] + `!=""}`})
	}
	return out
}

// selectorUse is what a query asks of one metric: its name and the labels it matches or groups by.
type selectorUse struct {
	metric string
	labels []string
}

// analyse parses expr and returns, for each metric selector, the metric and the labels that
// the query needs it to have: those it matches on, and those that an enclosing aggregation
// groups by (sum by (app) (...) needs every metric below to have app).
func analyse(expr string) ([]selectorUse, error) {
	root, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []selectorUse
	parser.Inspect(root, func(node parser.Node, path []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		use := selectorUse{metric: vs.Name}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName {
				if use.metric == "" && m.Type == labels.MatchEqual {
					use.metric = m.Value
				}
				continue
			}
			use.labels = append(use.labels, m.Name)
		}
		for _, n := range path {
			if agg, ok := n.(*parser.AggregateExpr); ok && !agg.Without {
				use.labels = append(use.labels, agg.Grouping...)
			}
		}
		out = append(out, use)
		return nil
	})
	return out, nil
}

// exposition is what a /metrics scrape holds: each sample name with the label names seen on it,
// and each metric family's type.
type exposition struct {
	samples map[string]map[string]bool
	types   map[string]string
}

// parseExposition reads the Prometheus text format (names and label names only).
func parseExposition(r io.Reader) (exposition, error) {
	e := exposition{samples: map[string]map[string]bool{}, types: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) == 2 {
				e.types[f[0]] = f[1]
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		if name == "" {
			return e, fmt.Errorf("sample line without a name: %q", line)
		}
		if e.samples[name] == nil {
			e.samples[name] = map[string]bool{}
		}
		if !strings.Contains(line, "{") {
			continue
		}
		set, ok := labelSet(rest)
		if !ok {
			return e, fmt.Errorf("unterminated label set: %q", line)
		}
		for _, pair := range splitLabels(set) {
			label, _, _ := strings.Cut(pair, "=")
			e.samples[name][strings.TrimSpace(label)] = true
		}
	}
	return e, sc.Err()
}

// labelSet returns what comes before the closing brace of a label set that starts at s,
// skipping braces inside quoted values (endpoint="/apps/{app}/events").
func labelSet(s string) (string, bool) {
	inQuote, escaped := false, false
	for i, c := range s {
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == '}' && !inQuote:
			return s[:i], true
		}
	}
	return "", false
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQuote, escaped, start := false, false, 0
	for i, c := range s {
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if strings.TrimSpace(s[start:]) != "" {
		out = append(out, s[start:])
	}
	return out
}

// missing lists what the queries need that the exposition lacks: metrics that are not served
// and labels that the served metrics do not have.
func (e exposition) missing(queries []query) []string {
	var problems []string
	for _, q := range queries {
		uses, err := analyse(q.expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", q.where, err))
			continue
		}
		for _, u := range uses {
			if u.metric == "" {
				problems = append(problems, fmt.Sprintf("%s: a selector without a metric name", q.where))
				continue
			}
			have, ok := e.samples[u.metric]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: metric %s is not on /metrics", q.where, u.metric))
				continue
			}
			for _, l := range u.labels {
				if !have[l] && !slices.Contains(scrapeLabels, l) {
					problems = append(problems, fmt.Sprintf("%s: metric %s has no label %q", q.where, u.metric, l))
				}
			}
		}
	}
	sort.Strings(problems)
	return slices.Compact(problems)
}

func TestAlertRulesLoad(t *testing.T) {
	groups := loadRules(t)
	var names []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule without alert (recording rules belong elsewhere): %q", g.Name, r.Expr)
				continue
			}
			names = append(names, r.Alert)
			if !strings.HasPrefix(r.Alert, "Herald") {
				t.Errorf("%s: alert names start with Herald", r.Alert)
			}
			for _, a := range []string{"summary", "description"} {
				if len(strings.TrimSpace(r.Annotations[a])) < 20 {
					t.Errorf("%s: annotation %s is missing or too short to say what to do: %q", r.Alert, a, r.Annotations[a])
				}
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity label is %q, want warning or critical", r.Alert, s)
			}
			uses, err := analyse(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
			}
			for _, u := range uses {
				if !strings.HasPrefix(u.metric, "herald_") {
					t.Errorf("%s: uses %s; alerts should rest on herald's own metrics", r.Alert, u.metric)
				}
			}
		}
	}
	// The list: webhook backlog and drops, delivery p99, a lost member, HTTP 5xx, slow consumers.
	for _, want := range []string{"HeraldWebhookEventsDropped", "HeraldWebhookBacklogGrowing", "HeraldDeliveryLatencyHigh",
		"HeraldClusterMemberLost", "HeraldHTTPAPIErrors", "HeraldSlowConsumersSpiking"} {
		if !slices.Contains(names, want) {
			t.Errorf("alert %s is missing (have %v)", want, names)
		}
	}
}

// nodeMetrics are herald's metrics of a node as a whole, with no app label.
var nodeMetrics = map[string]bool{"herald_cluster_members": true, "herald_channel_rebuilds_total": true,
	"herald_write_delay_seconds": true}

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title (uid %q, title %q)", d.UID, d.Title)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if ds, ok := vars["datasource"]; !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
		t.Errorf("want a datasource variable of Prometheus data sources, have %+v", vars["datasource"])
	}
	if a, ok := vars["app"]; !ok || a.Type != "query" || !a.Multi || !a.IncludeAll || a.Datasource == nil || a.Datasource.UID != "${datasource}" {
		t.Errorf("want an app variable (query, multi, include all, on ${datasource}), have %+v", vars["app"])
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range d.allPanels() {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos["w"] == 0 || p.GridPos["h"] == 0 {
			t.Errorf("panel %q has no size: %v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource must be ${datasource}, is %+v", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q ref %s: datasource must be ${datasource}", p.Title, tg.RefID)
			}
			exprs = append(exprs, tg.Expr)
			uses, err := analyse(grafanaVars.Replace(tg.Expr))
			if err != nil {
				t.Errorf("panel %q ref %s: %v", p.Title, tg.RefID, err)
				continue
			}
			for _, u := range uses {
				perApp := !nodeMetrics[u.metric] && !strings.HasPrefix(u.metric, "herald_http_") &&
					strings.HasPrefix(u.metric, "herald_")
				if perApp && !strings.Contains(tg.Expr, `app=~"$app"`) {
					t.Errorf("panel %q ref %s: %s is per app but the query ignores $app: %s", p.Title, tg.RefID, u.metric, tg.Expr)
				}
			}
		}
	}
	all := strings.Join(exprs, "\n")
	// What the issue asks the dashboard to show.
	for _, want := range []string{"herald_connections", "herald_subscriptions", "herald_messages_received_total",
		"herald_messages_sent_total", "histogram_quantile(0.99, sum by (le) (rate(herald_delivery_latency_seconds_bucket",
		"herald_slow_consumer_disconnects_total", "herald_webhook_events_queued", "herald_webhook_posts_failed_total",
		"herald_webhook_events_dropped_total", "herald_cluster_members", "herald_channel_rebuilds_total",
		"herald_write_delay_seconds", "herald_http_backpressure_total"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel queries %s", want)
		}
	}
}

// TestAnalyse pins down what the metric check extracts from a query.
func TestAnalyse(t *testing.T) {
	uses, err := analyse(`sum by (app, le) (rate(herald_x_bucket{app=~"a"}[5m])) / on() group_left count({__name__="herald_y"})`)
	if err != nil {
		t.Fatal(err)
	}
	want := []selectorUse{{metric: "herald_x_bucket", labels: []string{"app", "app", "le"}}, {metric: "herald_y"}}
	if fmt.Sprint(uses) != fmt.Sprint(want) {
		t.Fatalf("analyse = %v, want %v", uses, want)
	}
	e, err := parseExposition(strings.NewReader("# TYPE herald_x histogram\nherald_x_bucket{app=\"{a},b\\\"}\",le=\"1\"} 1\nherald_y 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.missing([]query{{"q", `sum by (app, le) (herald_x_bucket) + sum by (code) (herald_y) + herald_z`}}); len(got) != 2 ||
		!strings.Contains(got[0], `herald_y has no label "code"`) || !strings.Contains(got[1], "herald_z is not on /metrics") {
		t.Fatalf("missing = %q", got)
	}
}
