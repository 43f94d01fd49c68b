package deploy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// alertCase is one alert's behaviour. With the bad series (the trouble starts at minute
// troubleAt) the alert must not fire before troubleAt and must fire by firesBy (which allows
// for the rate window and the rule's `for`); with the good series it must never fire. Prometheus evaluates every minute; an alert fires once its
// expression has held at every evaluation for its `for`.
type alertCase struct {
	alert     string
	bad       string // series as promtool's unit tests write them, one sample a minute from 0m
	troubleAt int
	firesBy   int
	good      string
	minutes   int // how long the series run
}

// The scrape's labels, as Prometheus adds them to every series of a herald pod.
const pod = `job="herald",namespace="realtime",pod="herald-1"`

var alertCases = []alertCase{
	{
		alert:     "HeraldWebhookEventsDropped",
		bad:       `herald_webhook_events_dropped_total{` + pod + `,app="a"} 0x30 1+10x30`,
		troubleAt: 31, firesBy: 31,
		good:    `herald_webhook_events_dropped_total{` + pod + `,app="a"} 0x60`,
		minutes: 60,
	},
	{
		// A backlog that grows by 100 events a minute from 20m passes 1,000 at 31m.
		alert:     "HeraldWebhookBacklogGrowing",
		bad:       `herald_webhook_events_queued{` + pod + `,app="a"} 0x20 0+100x40`,
		troubleAt: 31, firesBy: 42,
		// A large but steady backlog is not growing.
		good:    `herald_webhook_events_queued{` + pod + `,app="a"} 5000x60`,
		minutes: 60,
	},
	{
		// Two failed POSTs a minute from 20m, against one every two minutes.
		alert:     "HeraldWebhookPostsFailing",
		bad:       `herald_webhook_posts_failed_total{` + pod + `,app="a"} 0x20 0+2x40`,
		troubleAt: 20, firesBy: 40,
		good:    `herald_webhook_posts_failed_total{` + pod + `,app="a"} 0+0.5x60`,
		minutes: 60,
	},
	{
		// A target fails from 20m on: 40 events wait for their retry.
		alert:     "HeraldWebhookRetryBacklog",
		bad:       `herald_webhook_retry_backlog{` + pod + `,app="a"} 0x20 40x30`,
		troubleAt: 20, firesBy: 31,
		// A receiver restarting: a few minutes of backlog, drained once it answers.
		good:    `herald_webhook_retry_backlog{` + pod + `,app="a"} 0x20 12x3 0x27`,
		minutes: 50,
	},
	{
		// Undelivered events age a minute a minute from 20m on.
		alert:     "HeraldWebhookDeliveryDelayed",
		bad:       `herald_webhook_oldest_undelivered_seconds{` + pod + `,app="a"} 0.05x20 0+60x30`,
		troubleAt: 21, firesBy: 28,
		// Batches go out within the batch window; a restart of the receiver delays them seconds.
		good:    `herald_webhook_oldest_undelivered_seconds{` + pod + `,app="a"} 0.05x20 5 30 0.05x28`,
		minutes: 50,
	},
	{
		// Deliveries under 10 ms until 20m, then between 2.5 and 5 s: p99 about 5 s.
		alert: "HeraldDeliveryLatencyHigh",
		bad: `herald_delivery_latency_seconds_bucket{` + pod + `,app="a",le="0.01"} 0+100x20 2000x20
			herald_delivery_latency_seconds_bucket{` + pod + `,app="a",le="1"} 0+100x20 2000x20
			herald_delivery_latency_seconds_bucket{` + pod + `,app="a",le="5"} 0+100x40
			herald_delivery_latency_seconds_bucket{` + pod + `,app="a",le="+Inf"} 0+100x40`,
		troubleAt: 20, firesBy: 35,
		good: `herald_delivery_latency_seconds_bucket{` + pod + `,app="a",le="0.01"} 0+100x40
			herald_delivery_latency_seconds_bucket{` + pod + `,app="a",le="1"} 0+100x40
			herald_delivery_latency_seconds_bucket{` + pod + `,app="a",le="+Inf"} 0+101x40`,
		minutes: 40,
	},
	{
		// A member goes at 60m and is not replaced.
		alert: "HeraldClusterMemberLost",
		bad: `herald_cluster_members{job="herald",namespace="realtime",pod="herald-1"} 3x60 2x60
			herald_cluster_members{job="herald",namespace="realtime",pod="herald-2"} 3x60 2x60
			herald_cluster_members{job="herald",namespace="realtime",pod="herald-3"} 3x60`,
		troubleAt: 61, firesBy: 80,
		// A rolling update at 60m: a surge member for 3 minutes, then back to 3.
		good: `herald_cluster_members{job="herald",namespace="realtime",pod="herald-1"} 3x60 4x3 3x57
			herald_cluster_members{job="herald",namespace="realtime",pod="herald-2"} 3x60 4x3 3x57
			herald_cluster_members{job="herald",namespace="realtime",pod="herald-3"} 3x60 4x3 3x57`,
		minutes: 120,
	},
	{
		// herald-3 sees only itself and one other from 20m on.
		alert: "HeraldClusterSplit",
		bad: `herald_cluster_members{job="herald",namespace="realtime",pod="herald-1"} 3x40
			herald_cluster_members{job="herald",namespace="realtime",pod="herald-2"} 3x40
			herald_cluster_members{job="herald",namespace="realtime",pod="herald-3"} 3x20 2x20`,
		troubleAt: 20, firesBy: 26,
		good: `herald_cluster_members{job="herald",namespace="realtime",pod="herald-1"} 3x40
			herald_cluster_members{job="herald",namespace="realtime",pod="herald-2"} 3x40
			herald_cluster_members{job="herald",namespace="realtime",pod="herald-3"} 3x40`,
		minutes: 40,
	},
	{
		// From 20m, 10 of every 110 requests fail: 9 %.
		alert: "HeraldHTTPAPIErrors",
		bad: `herald_http_requests_total{` + pod + `,endpoint="/apps/{app}/events",status="200"} 0+100x40
			herald_http_requests_total{` + pod + `,endpoint="/apps/{app}/events",status="503"} 0x20 0+10x20`,
		troubleAt: 20, firesBy: 30,
		// 1 in 151 fails; 4xx (the callers' mistakes) do not count.
		good: `herald_http_requests_total{` + pod + `,endpoint="/apps/{app}/events",status="200"} 0+100x40
			herald_http_requests_total{` + pod + `,endpoint="/apps/{app}/events",status="503"} 0+1x40
			herald_http_requests_total{` + pod + `,endpoint="/apps/{app}/events",status="400"} 0+50x40`,
		minutes: 40,
	},
	{
		// 30 slow-consumer closes a minute (0.5/s) from 20m, against 3 a minute.
		alert:     "HeraldSlowConsumersSpiking",
		bad:       `herald_slow_consumer_disconnects_total{` + pod + `,app="a"} 0+3x20 60+30x20`,
		troubleAt: 20, firesBy: 30,
		good:    `herald_slow_consumer_disconnects_total{` + pod + `,app="a"} 0+3x40`,
		minutes: 40,
	},
}

// TestAlertsFire evaluates each alert's expression every minute, as Prometheus does, over
// series that should set it off and series that should not.
func TestAlertsFire(t *testing.T) {
	type rule struct {
		expr string
		hold int // the rule's `for`, in evaluations (minutes)
	}
	rules := map[string]rule{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			rules[r.Alert] = rule{r.Expr, int(time.Duration(r.For) / time.Minute)}
		}
	}
	if len(rules) != len(alertCases) {
		t.Errorf("%d alerts, %d cases: every alert needs a case", len(rules), len(alertCases))
	}
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
	})
	// firing returns, for each minute, whether the alert fires then: its expression has held
	// at this evaluation and the `for` evaluations before.
	firing := func(t *testing.T, r rule, series string, minutes int) []bool {
		t.Helper()
		st := loadSeries(t, series)
		out := make([]bool, minutes)
		held := 0
		for m := range minutes {
			if holds(t, engine, st, r.expr, m) {
				held++
			} else {
				held = 0
			}
			out[m] = held > r.hold
		}
		return out
	}
	for _, c := range alertCases {
		t.Run(c.alert, func(t *testing.T) {
			r, ok := rules[c.alert]
			if !ok {
				t.Fatalf("no alert %s in %s", c.alert, alertsFile)
			}
			bad := firing(t, r, c.bad, c.minutes)
			first := slices.Index(bad, true)
			if first < c.troubleAt || first > c.firesBy {
				t.Errorf("fires first at %dm (-1: never); want between %dm, when the trouble starts, and %dm", first, c.troubleAt, c.firesBy)
			}
			if good := firing(t, r, c.good, c.minutes); slices.Contains(good, true) {
				t.Errorf("fires on healthy series at %dm", slices.Index(good, true))
			}
		})
	}
}

func holds(t *testing.T, engine promql.QueryEngine, st storage.Queryable, expr string, minute int) bool {
	t.Helper()
	q, err := engine.NewInstantQuery(context.Background(), st, nil, expr, time.Unix(0, 0).Add(time.Duration(minute)*time.Minute))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s at %dm: %v", expr, minute, res.Err)
	}
	v, ok := res.Value.(promql.Vector)
	if !ok {
		t.Fatalf("%s: result is a %T, not a vector", expr, res.Value)
	}
	return len(v) > 0
}

// loadSeries is an in-memory storage of series given as promtool's unit tests write them
// (`metric{labels} 0+10x30 5x10`), one sample a minute from time 0.
func loadSeries(t *testing.T, text string) storage.Queryable {
	t.Helper()
	var all []storage.Series
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		lset, values, err := promqlParser.ParseSeriesDesc(line)
		if err != nil {
			t.Fatalf("series %q: %v", line, err)
		}
		var samples []chunks.Sample
		for i, v := range values {
			if !v.Omitted {
				samples = append(samples, floatSample{t: int64(i) * time.Minute.Milliseconds(), f: v.Value})
			}
		}
		all = append(all, storage.NewListSeries(lset, samples))
	}
	return &storage.MockQueryable{MockQuerier: &storage.MockQuerier{
		SelectMockFunction: func(_ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
			var picked []storage.Series
			for _, s := range all {
				if matchesAll(s.Labels(), matchers) {
					picked = append(picked, s)
				}
			}
			return &seriesSet{series: picked, i: -1}
		},
	}}
}

func matchesAll(lset labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// TestAlertsAsPrometheusRule: the rules file, indented under spec: as the README shows, is a
// valid prometheus-operator PrometheusRule with every rule.
func TestAlertsAsPrometheusRule(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: herald\n  labels: {release: kube-prometheus-stack}\nspec:\n")
	for _, line := range strings.Split(strings.TrimRight(string(mustRead(t, alertsFile)), "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	var rule monitoringv1.PrometheusRule
	decodeStrict(t, "PrometheusRule", []byte(b.String()), &rule)
	want := 0
	for _, g := range loadRules(t).Groups {
		want += len(g.Rules)
	}
	got := 0
	for _, g := range rule.Spec.Groups {
		got += len(g.Rules)
	}
	if got != want || got == 0 {
		t.Fatalf("the PrometheusRule holds %d rules, the file %d", got, want)
	}
}
