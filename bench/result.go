package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// Result is what one scenario run against one target measured.
type Result struct {
	Scenario string    `json:"scenario"`
	Target   string    `json:"target"`
	Started  time.Time `json:"started"`
	Config   Config    `json:"config"`
	// LoadAvg is /proc/loadavg's 1-minute figure when the run started: other work on the
	// machine, which these figures cannot correct for.
	LoadAvg float64 `json:"loadavg_1m"`
	// BusyAtStart is how many cores the whole machine kept busy in the half second before the
	// run (nil where /proc/stat cannot be read): unlike LoadAvg, what is busy now.
	BusyAtStart *float64 `json:"busy_cores_at_start,omitempty"`
	// Elapsed is the measured phase, in seconds (triggers and drain, or joins, or connects).
	Elapsed float64 `json:"elapsed_s"`

	Connections     int64   `json:"connections"`
	ConnectErrors   int64   `json:"connect_errors"`
	Subscribed      int64   `json:"subscribed"`
	SubscribeErrors int64   `json:"subscribe_errors"`
	Disconnects     int64   `json:"disconnects"`      // sockets the server closed during the run
	PusherErrors    int64   `json:"pusher_errors"`    // pusher:error frames received
	Sent            int64   `json:"sent"`             // events triggered (HTTP) or sent (client events)
	SendErrors      int64   `json:"send_errors"`      // triggers refused or failed
	SendRequests    int64   `json:"send_requests"`    // HTTP requests made
	PushedBack      int64   `json:"pushed_back"`      // triggers the server refused with Retry-After, sent again after it
	Offered         int64   `json:"offered"`          // deliveries the sent events call for
	Delivered       int64   `json:"delivered"`        // unique deliveries of sent events
	Lost            int64   `json:"lost"`             // offered but not delivered
	Duplicated      int64   `json:"duplicated"`       // deliveries of an event already delivered to that socket
	Reordered       int64   `json:"reordered"`        // deliveries after a later event of the same sender
	Unexpected      int64   `json:"unexpected"`       // deliveries of events whose trigger failed
	DeliveryRate    float64 `json:"deliveries_per_s"` // Delivered / Elapsed
	OfferedRate     float64 `json:"offered_per_s"`    // Offered / trigger phase

	Server       *ProcSample `json:"server_before,omitempty"`
	ServerAfter  *ProcSample `json:"server_after,omitempty"`
	ServerSetup  *ProcSample `json:"server_before_setup,omitempty"`
	ServerCPU    float64     `json:"server_cpu_s"`             // CPU seconds over the measured phase
	PerCPUSecond float64     `json:"deliveries_per_cpu_s"`     // Delivered / ServerCPU
	MemPerConn   float64     `json:"rss_per_connection_bytes"` // (RSS after setup - before) / connections
	ClientCPU    float64     `json:"bench_cpu_s"`              // the load generator's CPU seconds over the measured phase

	Latencies map[string]LatencySummary `json:"latencies"`
	// Primary names the latency plotted in the chart.
	Primary string             `json:"primary"`
	Extra   map[string]float64 `json:"extra,omitempty"`
	Notes   []string           `json:"notes,omitempty"`

	hists map[string]*Histogram
}

func (r *Result) setHist(name string, h *Histogram) {
	if r.hists == nil {
		r.hists = map[string]*Histogram{}
		r.Latencies = map[string]LatencySummary{}
	}
	r.hists[name] = h
	r.Latencies[name] = h.Summary()
}

// Hist returns a recorded latency histogram, nil if none.
func (r *Result) Hist(name string) *Histogram { return r.hists[name] }

func (r *Result) extra(name string, v float64) {
	if r.Extra == nil {
		r.Extra = map[string]float64{}
	}
	r.Extra[name] = v
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// finishServer fills the CPU and memory figures from the samples.
func (r *Result) finishServer(setup, before, after *ProcSample) {
	r.ServerSetup, r.Server, r.ServerAfter = setup, before, after
	if before != nil && after != nil {
		r.ServerCPU = after.CPUSeconds - before.CPUSeconds
		if r.ServerCPU > 0 {
			r.PerCPUSecond = float64(r.Delivered) / r.ServerCPU
		}
	}
	if setup != nil && before != nil && r.Connections > 0 {
		r.MemPerConn = float64(before.RSSBytes-setup.RSSBytes) / float64(r.Connections)
	}
}

// row is one line of the Markdown table.
type row struct {
	name string
	get  func(*Result) (float64, bool)
	unit string // how to format: "n" count, "f1", "pct", "ms", "mb", "kb", "s"
}

func rows(results []*Result) []row {
	count := func(f func(*Result) int64) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) { return float64(f(r)), true }
	}
	// sends counts only for scenarios that send events: in rooms a row of zeros would only
	// hide the figures that matter.
	sends := func(f func(*Result) int64) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) { return float64(f(r)), r.Sent > 0 || r.Offered > 0 }
	}
	rs := []row{
		{"connections", count(func(r *Result) int64 { return r.Connections }), "n"},
		{"connect errors", count(func(r *Result) int64 { return r.ConnectErrors }), "n"},
		{"subscribed", count(func(r *Result) int64 { return r.Subscribed }), "n"},
		{"subscribe errors", count(func(r *Result) int64 { return r.SubscribeErrors }), "n"},
		{"closed by server", count(func(r *Result) int64 { return r.Disconnects }), "n"},
		{"pusher:error frames", count(func(r *Result) int64 { return r.PusherErrors }), "n"},
		{"events sent", sends(func(r *Result) int64 { return r.Sent }), "n"},
		{"send errors", sends(func(r *Result) int64 { return r.SendErrors }), "n"},
		{"pushed back (sent again after Retry-After)", sends(func(r *Result) int64 { return r.PushedBack }), "n"},
		{"deliveries offered", sends(func(r *Result) int64 { return r.Offered }), "n"},
		{"deliveries offered/s", func(r *Result) (float64, bool) { return r.OfferedRate, r.Offered > 0 }, "n"},
		{"delivered", sends(func(r *Result) int64 { return r.Delivered }), "n"},
		{"delivered %", func(r *Result) (float64, bool) {
			return 100 * float64(r.Delivered) / float64(max(r.Offered, 1)), r.Offered > 0
		}, "pct"},
		{"lost", sends(func(r *Result) int64 { return r.Lost }), "n"},
		{"duplicated", sends(func(r *Result) int64 { return r.Duplicated }), "n"},
		{"reordered", sends(func(r *Result) int64 { return r.Reordered }), "n"},
		{"deliveries/s", func(r *Result) (float64, bool) { return r.DeliveryRate, r.Delivered > 0 }, "n"},
		{"machine load average at start", func(r *Result) (float64, bool) { return r.LoadAvg, r.LoadAvg > 0 }, "f2"},
		{"machine cores busy at start", func(r *Result) (float64, bool) {
			if r.BusyAtStart == nil {
				return 0, false
			}
			return *r.BusyAtStart, true
		}, "f2"},
		{"measured phase (s)", func(r *Result) (float64, bool) { return r.Elapsed, true }, "f1"},
		{"server CPU (s)", func(r *Result) (float64, bool) { return r.ServerCPU, r.Server != nil }, "f2"},
		{"server CPU use (cores)", func(r *Result) (float64, bool) {
			return r.ServerCPU / r.Elapsed, r.Server != nil && r.Elapsed > 0
		}, "f2"},
		{"bench (load generator) CPU use (cores)", func(r *Result) (float64, bool) {
			return r.ClientCPU / r.Elapsed, r.ClientCPU > 0 && r.Elapsed > 0
		}, "f2"},
		{"**deliveries per server CPU-s**", func(r *Result) (float64, bool) { return r.PerCPUSecond, r.PerCPUSecond > 0 }, "n"},
		{"server RSS before setup (MB)", func(r *Result) (float64, bool) {
			if r.ServerSetup == nil {
				return 0, false
			}
			return float64(r.ServerSetup.RSSBytes), true
		}, "mb"},
		{"server RSS loaded (MB)", func(r *Result) (float64, bool) {
			if r.Server == nil {
				return 0, false
			}
			return float64(r.Server.RSSBytes), true
		}, "mb"},
		{"server RSS after (MB)", func(r *Result) (float64, bool) {
			if r.ServerAfter == nil {
				return 0, false
			}
			return float64(r.ServerAfter.RSSBytes), true
		}, "mb"},
		{"server RSS peak (MB)", func(r *Result) (float64, bool) {
			if r.ServerAfter == nil {
				return 0, false
			}
			return float64(r.ServerAfter.HWMBytes), true
		}, "mb"},
		{"**RSS per connection (KB)**", func(r *Result) (float64, bool) { return r.MemPerConn, r.MemPerConn != 0 }, "kb"},
	}
	// Latency rows for every histogram any result has, in a stable order.
	seen := map[string]bool{}
	for _, name := range []string{"connect", "subscribe", "delivery", "member_added", "churn_subscribe", "churn_member_added", "churn_member_removed"} {
		for _, r := range results {
			if _, ok := r.Latencies[name]; ok && !seen[name] {
				seen[name] = true
				rs = append(rs, latencyRows(name)...)
			}
		}
	}
	extras := map[string]bool{}
	for _, r := range results {
		for k := range r.Extra {
			extras[k] = true
		}
	}
	for _, k := range sortedKeys(extras) {
		// "n": counts print as integers, rates and seconds keep a decimal.
		rs = append(rs, row{k, func(r *Result) (float64, bool) { v, ok := r.Extra[k]; return v, ok }, "n"})
	}
	return rs
}

func latencyRows(name string) []row {
	q := func(label string, f func(LatencySummary) float64) row {
		return row{name + " " + label + " (ms)", func(r *Result) (float64, bool) {
			s, ok := r.Latencies[name]
			return f(s), ok && s.Count > 0
		}, "ms"}
	}
	return []row{
		{name + " samples", func(r *Result) (float64, bool) { s, ok := r.Latencies[name]; return float64(s.Count), ok }, "n"},
		q("p50", func(s LatencySummary) float64 { return s.P50Ms }),
		q("p90", func(s LatencySummary) float64 { return s.P90Ms }),
		q("p99", func(s LatencySummary) float64 { return s.P99Ms }),
		q("p99.9", func(s LatencySummary) float64 { return s.P999Ms }),
		q("max", func(s LatencySummary) float64 { return s.MaxMs }),
	}
}

func format(v float64, unit string) string {
	switch unit {
	case "n":
		if math.Abs(v) >= 100 || v == math.Trunc(v) {
			return groupThousands(int64(math.Round(v)))
		}
		return fmt.Sprintf("%.1f", v)
	case "pct":
		return fmt.Sprintf("%.2f %%", v)
	case "ms":
		switch {
		case v >= 100:
			return fmt.Sprintf("%.0f", v)
		case v >= 10:
			return fmt.Sprintf("%.1f", v)
		default:
			return fmt.Sprintf("%.2f", v)
		}
	case "mb":
		return fmt.Sprintf("%.1f", v/(1<<20))
	case "kb":
		return fmt.Sprintf("%.2f", v/1024)
	case "f2":
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// WriteMarkdown writes results (one column per target) as a Markdown table, followed by the
// ratio of the first target to each other one when there are several.
func WriteMarkdown(w io.Writer, results []*Result) error {
	if len(results) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("| " + results[0].Scenario + " |")
	for _, r := range results {
		b.WriteString(" " + r.Target + " |")
	}
	for _, r := range results[1:] {
		b.WriteString(" " + results[0].Target + " / " + r.Target + " |")
	}
	b.WriteString("\n|---|")
	for range len(results)*2 - 1 {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, rw := range rows(results) {
		vals := make([]float64, len(results))
		oks := make([]bool, len(results))
		any := false
		for i, r := range results {
			vals[i], oks[i] = rw.get(r)
			any = any || oks[i]
		}
		if !any {
			continue
		}
		b.WriteString("| " + rw.name + " |")
		for i := range results {
			if oks[i] {
				b.WriteString(" " + format(vals[i], rw.unit) + " |")
			} else {
				b.WriteString(" – |")
			}
		}
		for i := 1; i < len(results); i++ {
			if oks[0] && oks[i] && vals[i] != 0 && rw.unit != "pct" {
				b.WriteString(fmt.Sprintf(" %.2fx |", vals[0]/vals[i]))
			} else {
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
	}
	for _, r := range results {
		for _, n := range r.Notes {
			b.WriteString("\n- " + r.Target + ": " + n)
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Report is the JSON file's content.
type Report struct {
	Scenario string    `json:"scenario"`
	Machine  Machine   `json:"machine"`
	Results  []*Result `json:"results"`
	// Ratios is the first target's figure divided by each other target's, per metric.
	Ratios map[string]map[string]float64 `json:"ratios,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	Date      string `json:"date"`
}

// NewReport bundles results with the machine description and the ratios.
func NewReport(results []*Result) *Report {
	rep := &Report{Results: results, Machine: describeMachine()}
	if len(results) > 0 {
		rep.Scenario = results[0].Scenario
	}
	if len(results) > 1 {
		rep.Ratios = map[string]map[string]float64{}
		for _, rw := range rows(results) {
			v0, ok0 := rw.get(results[0])
			for _, r := range results[1:] {
				v, ok := rw.get(r)
				if ok0 && ok && v != 0 {
					key := results[0].Target + "/" + r.Target
					if rep.Ratios[key] == nil {
						rep.Ratios[key] = map[string]float64{}
					}
					rep.Ratios[key][strings.Trim(rw.name, "*")] = v0 / v
				}
			}
		}
	}
	return rep
}

// WriteJSON writes the report to path.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	return nil
}
