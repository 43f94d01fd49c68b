package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/herald-io/herald/bench"
	"github.com/herald-io/herald/bench/baseline"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestOverviewHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"-help"}, {"compare"}, {"compare", "--help"}} {
		code, out, errOut := runCLI(args...)
		if code != exitOK || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, s := range bench.Scenarios {
			if !strings.Contains(out, "  "+s+" ") || !strings.Contains(out, bench.ScenarioSummary(s)) {
				t.Errorf("%v: scenario %s or its summary missing:\n%s", args, s, out)
			}
		}
		for _, want := range []string{"--ws list", "(default ws://127.0.0.1:6001)", "--server-pid list", "--timeout duration", "(default 5m0s)", "--target list"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: no %q in the overview", args, want)
			}
		}
		if strings.Contains(out, "--subscribers") {
			t.Errorf("%v: the overview lists a scenario's own flag", args)
		}
	}
}

func TestScenarioHelpListsEveryFlag(t *testing.T) {
	for _, s := range bench.Scenarios {
		for _, args := range [][]string{{s, "--help"}, {s, "-h"}, {"help", s}, {"compare", s, "--help"}} {
			code, out, errOut := runCLI(args...)
			if code != exitOK || errOut != "" {
				t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
			}
			newCLI(s, false).fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, "  --"+f.Name+" ") {
					t.Errorf("%v: flag --%s missing", args, f.Name)
				}
			})
			if n := strings.Count(out, "(default "); n != strings.Count(out, "\n  --") {
				t.Errorf("%v: %d defaults for %d flags", args, n, strings.Count(out, "\n  --"))
			}
		}
	}
	_, out, _ := runCLI("rooms", "--help")
	for _, want := range []string{"--users int", "sockets, one user each (default 1000)", "--rooms-per-user int", "(default 2)", "--reconnect-share float", "(default 0.5)", "--join-rate float\n      joins per second (0: as fast as join-concurrency allows) (default 0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("rooms help has no %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--subscribers") || strings.Contains(out, "--pairs") {
		t.Errorf("rooms help lists other scenarios' flags:\n%s", out)
	}
	// Defaults are the scenario's own.
	if _, out, _ := runCLI("channels", "--help"); !strings.Contains(out, "--subscribers int\n      fanout: subscribers of the channel; channels: subscribers per channel (default 10)") {
		t.Errorf("channels help does not show its own default:\n%s", out)
	}
}

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no scenario given"},
		{[]string{"nope"}, `unknown scenario "nope"`},
		{[]string{"help", "nope"}, `unknown scenario "nope"`},
		{[]string{"compare", "nope"}, `unknown scenario "nope"`},
		{[]string{"fanout", "--bogus", "1"}, "flag provided but not defined: -bogus"},
		{[]string{"rooms", "--subscribers", "5"}, "flag provided but not defined: -subscribers"},
		{[]string{"fanout", "--rate", "fast"}, `invalid value "fast"`},
		{[]string{"fanout", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"--ws", "ws://127.0.0.1:1"}, "flag --ws before the scenario"},
		{[]string{"fanout", "--ws", "ws://10.1.2.3:6001"}, "not a loopback address"},
		{[]string{"fanout", "--server-pid", "abc"}, `--server-pid "abc" is not a process id`},
		{[]string{"compare", "fanout"}, "compare needs --target"},
		{[]string{"compare", "fanout", "--target", "name=x,color=red"}, `unknown target field "color"`},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "herald-bench --help") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errOut, tt.want)
		}
		if tt.args != nil && out != "" {
			t.Errorf("%v: wrote %q to stdout", tt.args, out)
		}
	}
}

// A real run through the command line: rooms against the in-process baseline, with its address
// given twice as a two-node "cluster" and the test's own PID twice.
func TestRoomsRunFromCommandLine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := baseline.New()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	addr := l.Addr().String()
	jsonPath, pngPath := filepath.Join(t.TempDir(), "rooms.json"), filepath.Join(t.TempDir(), "rooms.png")
	pid := strconv.Itoa(os.Getpid())
	code, out, errOut := runCLI("rooms", "--name", "base", "--ws", "ws://"+addr, "--ws", "ws://"+addr, "--http", "http://"+addr,
		"--server-pid", pid+","+pid, "--users", "12", "--rooms", "3", "--rooms-per-user", "1", "--join-concurrency", "2",
		"--churn-rate", "20", "--churn-duration", "200ms", "--drain", "3s", "--timeout", "30s", "--quiet",
		"--json", jsonPath, "--png", pngPath)
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	if !strings.Contains(out, "| rooms | base |") || !strings.Contains(out, "check after join: WRONG VIEWS | 0 |") {
		t.Fatalf("table:\n%s", out)
	}
	var rep bench.Report
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Results) != 1 {
		t.Fatalf("json: %v", err)
	}
	r := rep.Results[0]
	if r.Subscribed != 12 || r.Extra["check after churn: views checked"] != 12 || r.Extra["check after churn: WRONG VIEWS"] != 0 || r.Server == nil || r.ServerAfter == nil {
		t.Fatalf("result: subscribed %d extras %v notes %v", r.Subscribed, r.Extra, r.Notes)
	}
	if st, err := os.Stat(pngPath); err != nil || st.Size() == 0 {
		t.Fatalf("chart: %v", err)
	}
}
