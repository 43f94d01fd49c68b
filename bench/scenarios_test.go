package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/bench/baseline"
	"github.com/herald-io/herald/bench/pusherclient"
)

// startBaseline serves the baseline server on 127.0.0.1:0 in this process and returns it as a
// target whose PID is the test's own.
func startBaseline(t *testing.T, name string) Target {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := baseline.New()
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; err != nil {
			t.Errorf("baseline: %v", err)
		}
	})
	addr := l.Addr().String()
	return Target{
		Name: name, WS: []string{"ws://" + addr}, HTTP: "http://" + addr, PIDs: []int{os.Getpid()},
		App: pusherclient.App{ID: "app-id", Key: "app-key", Secret: "app-secret"},
	}
}

// tinyConfig is a load that runs in well under a second.
func tinyConfig() Config {
	c := DefaultConfig()
	c.Connections, c.Channels, c.Subscribers = 20, 3, 10
	c.ConnectRate, c.ConnectConcurrency = 0, 8
	c.Rate, c.Payload, c.Duration, c.Drain = 40, 64, 300*time.Millisecond, 3*time.Second
	c.Batch, c.HTTPWorkers = 4, 4
	c.Members, c.Observers, c.JoinConcurrency = 20, 3, 5
	c.ChurnRate, c.ChurnDuration = 20, 300*time.Millisecond
	c.Pairs = 4
	c.Users, c.Rooms, c.RoomsPerUser, c.ReconnectShare = 20, 4, 2, 0.5
	c.Timeout = 30 * time.Second
	return c
}

func TestScenariosAgainstBaseline(t *testing.T) {
	target := startBaseline(t, "baseline")
	cases := []struct {
		scenario string
		edit     func(*Config)
		check    func(t *testing.T, r *Result)
	}{
		{"connect", nil, func(t *testing.T, r *Result) {
			if r.Connections != 20 || r.Subscribed != 20 || r.Latencies["connect"].Count != 20 || r.Latencies["subscribe"].Count != 20 {
				t.Fatalf("connections %d subscribed %d", r.Connections, r.Subscribed)
			}
			if r.Server == nil || r.ServerSetup == nil || r.MemPerConn == 0 {
				t.Fatalf("server figures missing: %+v", r)
			}
		}},
		{"fanout", nil, deliveredAll},
		{"channels", func(c *Config) { c.Rate = 120 }, func(t *testing.T, r *Result) {
			deliveredAll(t, r)
			if r.Connections != 30 || r.SendRequests*4 != r.Sent {
				t.Fatalf("connections %d, %d events in %d requests", r.Connections, r.Sent, r.SendRequests)
			}
		}},
		{"channels", func(c *Config) { c.Rate, c.Batch = 60, 1 }, deliveredAll},
		{"presence", nil, func(t *testing.T, r *Result) {
			if r.Subscribed != 20 || r.SubscribeErrors != 0 {
				t.Fatalf("joined %d, errors %d; notes %v", r.Subscribed, r.SubscribeErrors, r.Notes)
			}
			// observers 0, 1, 2 see the later joiners: 19 + 18 + 17
			if r.Offered != 54 || r.Delivered != 54 || r.Lost != 0 || r.Duplicated != 0 {
				t.Fatalf("member_added at observers: offered %d delivered %d lost %d dup %d", r.Offered, r.Delivered, r.Lost, r.Duplicated)
			}
			if r.Extra["members whose view missed members"] != 0 || r.Extra["members whose view missed members after churn"] != 0 {
				t.Fatalf("views incomplete: %v", r.Extra)
			}
			if r.Extra["roster size reached"] != 20 || r.Extra["member_added received (all members)"] != 190 {
				t.Fatalf("extras %v", r.Extra)
			}
			if r.Latencies["member_added"].Count != 54 || r.Latencies["subscribe"].Count != 20 {
				t.Fatalf("latencies %v", r.Latencies)
			}
			if r.Extra["churn rejoins"] == 0 || r.Extra["churn errors"] != 0 || r.Latencies["churn_subscribe"].Count == 0 {
				t.Fatalf("churn %v", r.Extra)
			}
		}},
		// One churn action at a time, so that every other member is subscribed when a user
		// leaves and the counts are exact: 4 rooms of 10, 45 member_added per room to fill it,
		// and each unsubscribe+subscribe gives 9 member_removed and 9 member_added.
		{"rooms", func(c *Config) { c.ChurnConcurrency, c.ReconnectShare = 1, 0 }, func(t *testing.T, r *Result) {
			roomsExact(t, r)
			actions := r.Extra["churn: rejoins"]
			if actions == 0 || r.Extra["churn: room unsubscribe+subscribe"] != actions || r.Extra["churn: reconnects"] != 0 {
				t.Fatalf("churn %v", r.Extra)
			}
			if r.Extra["churn: member_removed received"] != 9*actions || r.Extra["churn: member_added received"] != 9*actions {
				t.Fatalf("%v rejoins: member_removed %v member_added %v, want %v each", actions,
					r.Extra["churn: member_removed received"], r.Extra["churn: member_added received"], 9*actions)
			}
			if r.Latencies["churn_member_removed"].Count != int64(9*actions) || r.Latencies["churn_subscribe"].Count != int64(actions) {
				t.Fatalf("churn latencies %+v", r.Latencies)
			}
		}},
		// Reconnects too: a reload gives member_removed and member_added for each room, or
		// neither, so the two counts match.
		{"rooms", func(c *Config) { c.ChurnConcurrency, c.ReconnectShare, c.ChurnRate = 1, 0.5, 40 }, func(t *testing.T, r *Result) {
			roomsExact(t, r)
			if r.Extra["churn: reconnects"] == 0 || r.Extra["churn: room unsubscribe+subscribe"] == 0 {
				t.Fatalf("churn mix %v", r.Extra)
			}
			if a, rm := r.Extra["churn: member_added received"], r.Extra["churn: member_removed received"]; a != rm || a > 9*2*r.Extra["churn: rejoins"] {
				t.Fatalf("churn member_added %v, member_removed %v", a, rm)
			}
		}},
		{"client-events", nil, func(t *testing.T, r *Result) {
			deliveredAll(t, r)
			if r.Subscribed != 8 {
				t.Fatalf("subscribed %d", r.Subscribed)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.scenario, func(t *testing.T) {
			cfg := tinyConfig()
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			var lines int
			cfg.Progress = func(string) { lines++ }
			r, err := Run(context.Background(), tc.scenario, target, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.ConnectErrors != 0 || r.Disconnects != 0 || r.PusherErrors != 0 || r.SubscribeErrors != 0 {
				t.Fatalf("errors: %+v notes %v", r, r.Notes)
			}
			tc.check(t, r)
			var md bytes.Buffer
			if err := WriteMarkdown(&md, []*Result{r}); err != nil || !strings.Contains(md.String(), "| "+tc.scenario+" | baseline |") {
				t.Fatalf("markdown: %v\n%s", err, md.String())
			}
		})
	}
}

// roomsExact checks a rooms run of tinyConfig's 20 users in 4 rooms of 10: every join
// answered, every view exact after both phases, member_added counts as Pusher's semantics make
// them.
func roomsExact(t *testing.T, r *Result) {
	t.Helper()
	if r.Connections != 20 || r.Subscribed != 40 || r.SubscribeErrors != 0 {
		t.Fatalf("connections %d joined %d errors %d; notes %v", r.Connections, r.Subscribed, r.SubscribeErrors, r.Notes)
	}
	for _, phase := range []string{"check after join", "check after churn"} {
		if r.Extra[phase+": views checked"] != 40 {
			t.Errorf("%s: %v views checked, want 40", phase, r.Extra[phase+": views checked"])
		}
		for _, k := range []string{": WRONG VIEWS", ": view entries missing (member_added lost)", ": view entries extra (member_removed lost)",
			": duplicate member_added", ": member_removed for a user not in the view", ": member events for users not in the room"} {
			if v := r.Extra[phase+k]; v != 0 {
				t.Errorf("%s%s = %v; notes %v", phase, k, v, r.Notes)
			}
		}
	}
	if r.Extra["join: member_added received"] != 180 || r.Extra["join: member_added expected"] != 180 {
		t.Errorf("join member_added %v, expected %v, want 180", r.Extra["join: member_added received"], r.Extra["join: member_added expected"])
	}
	if r.Latencies["subscribe"].Count != 40 || r.Latencies["member_added"].Count != 180 {
		t.Errorf("join latencies %+v", r.Latencies)
	}
	if r.Extra["users API: rooms checked"] != 4 || r.Extra["users API: rooms whose users differ"] != 0 {
		t.Errorf("users API %v; notes %v", r.Extra, r.Notes)
	}
	// The server figures were sampled (their values depend on timing and are not checked).
	if r.Extra["churn: errors"] != 0 || r.ServerSetup == nil || r.Server == nil || r.ServerAfter == nil {
		t.Errorf("extras %v, server samples %v %v %v", r.Extra, r.ServerSetup, r.Server, r.ServerAfter)
	}
}

func deliveredAll(t *testing.T, r *Result) {
	t.Helper()
	if r.Offered == 0 || r.Delivered != r.Offered || r.Lost != 0 || r.Duplicated != 0 || r.Unexpected != 0 || r.SendErrors != 0 {
		t.Fatalf("offered %d delivered %d lost %d dup %d unexpected %d send errors %d; notes %v",
			r.Offered, r.Delivered, r.Lost, r.Duplicated, r.Unexpected, r.SendErrors, r.Notes)
	}
	d := r.Latencies["delivery"]
	if d.Count != r.Delivered || d.P50Ms <= 0 || d.MaxMs < d.P99Ms {
		t.Fatalf("delivery latency %+v", d)
	}
	if r.ServerCPU <= 0 || r.PerCPUSecond <= 0 || r.DeliveryRate <= 0 {
		t.Fatalf("rates: cpu %v per cpu %v rate %v", r.ServerCPU, r.PerCPUSecond, r.DeliveryRate)
	}
}

func TestCompareWritesTableJSONAndChart(t *testing.T) {
	a, b := startBaseline(t, "a"), startBaseline(t, "b")
	cfg := tinyConfig()
	var logged []string
	results, err := Compare(context.Background(), "fanout", []Target{a, b}, cfg, 2, 10*time.Millisecond,
		func(f string, args ...any) { logged = append(logged, f) })
	if err != nil {
		t.Fatal(err)
	}
	// Two rounds against two targets: a "round" line and a result line for each run. A busy
	// machine (CI runs packages side by side) adds a "still busy" line before a run, which
	// is not counted.
	var rounds, lines int
	for _, f := range logged {
		switch {
		case strings.HasPrefix(f, "round "):
			rounds++
		case strings.HasPrefix(f, "  "):
			lines++
		case !strings.HasPrefix(f, "the machine is still busy"):
			t.Errorf("unexpected log line %q", f)
		}
	}
	if len(results) != 2 || rounds != 4 || lines != 4 {
		t.Fatalf("%d results, %d round lines, %d result lines: %q", len(results), rounds, lines, logged)
	}
	for _, r := range results {
		deliveredAll(t, r)
		// At least one event a round: how many more depends on how busy the machine is.
		if r.Sent < 2 || !strings.Contains(strings.Join(r.Notes, " "), "2 rounds") {
			t.Fatalf("merged result: sent %d notes %v", r.Sent, r.Notes)
		}
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, results); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| a / b |") || !strings.Contains(md.String(), "deliveries per server CPU-s") {
		t.Fatalf("table:\n%s", md.String())
	}
	dir := t.TempDir()
	rep := NewReport(results)
	if err := rep.WriteJSON(filepath.Join(dir, "out.json")); err != nil {
		t.Fatal(err)
	}
	var back Report
	raw, _ := os.ReadFile(filepath.Join(dir, "out.json"))
	if err := json.Unmarshal(raw, &back); err != nil || len(back.Results) != 2 || back.Ratios["a/b"]["delivered"] == 0 || back.Machine.CPUs == 0 {
		t.Fatalf("json: %v %+v", err, back.Ratios)
	}
	if err := WriteCDFChart(filepath.Join(dir, "out.png"), "fanout", ChartSeries(results)); err != nil {
		t.Fatal(err)
	}
}

func TestTargets(t *testing.T) {
	def := Target{App: pusherclient.App{ID: "i", Key: "k", Secret: "s"}}
	got, err := ParseTarget("name=h,ws=ws://127.0.0.1:6001,http=http://127.0.0.1:6001,pid=42,key=k2", def)
	if err != nil || got.Name != "h" || len(got.PIDs) != 1 || got.PIDs[0] != 42 || got.App.Key != "k2" || got.App.ID != "i" {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []string{
		"name=x,ws=ws://10.0.0.1:6001,http=http://127.0.0.1:6001",
		"name=x,ws=ws://example.com:6001,http=http://127.0.0.1:6001",
		"name=x,ws=ws://127.0.0.1:6001",
		"name=x,pid=abc,ws=ws://127.0.0.1:1,http=http://127.0.0.1:1",
		"nokey",
		"color=red",
	} {
		if _, err := ParseTarget(bad, def); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := Run(context.Background(), "nope", got, tinyConfig()); err == nil {
		t.Error("unknown scenario accepted")
	}
	cfg := tinyConfig()
	cfg.Timeout = 0
	if _, err := Run(context.Background(), "fanout", got, cfg); err == nil {
		t.Error("unbounded run accepted")
	}
}
