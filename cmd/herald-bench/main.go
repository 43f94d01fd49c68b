// Command herald-bench loads a Pusher Channels server and measures it: see package bench.
//
//	herald-bench <scenario> [flags]            one target (--ws, --http, --app-id, --key, --secret, --server-pid)
//	herald-bench compare <scenario> [flags]    several --target name=..,ws=..,http=..,pid=.. alternately, with ratios
//	herald-bench --help                        scenarios and common flags
//	herald-bench <scenario> --help             every flag of a scenario, with its default
//
// Every load targets loopback, is bounded in count and time, and stops by itself. Exit status:
// 0 after a run or help, 1 when a run fails, 2 for a command line it does not understand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herald-io/herald/bench"
	"github.com/herald-io/herald/bench/pusherclient"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitRun   = 1
	exitUsage = 2
)

// usageError is a command line herald-bench does not understand: exit 2, with a pointer to the
// help.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// run is main without the process: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	err := runErr(args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "herald-bench: %s\nRun 'herald-bench --help' for the scenarios and flags.\n", ue.msg)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "herald-bench:", err)
		return exitRun
	}
}

func runErr(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printOverview(stderr)
		return usagef("no scenario given")
	}
	if isHelp(args[0]) {
		if len(args) > 1 && args[1] != "compare" {
			return scenarioHelp(args[1], false, stdout)
		}
		printOverview(stdout)
		return nil
	}
	compare := args[0] == "compare"
	if compare {
		args = args[1:]
		if len(args) == 0 || isHelp(args[0]) {
			if len(args) > 1 {
				return scenarioHelp(args[1], true, stdout)
			}
			printOverview(stdout)
			return nil
		}
	}
	scenario := args[0]
	if strings.HasPrefix(scenario, "-") {
		return usagef("flag %s before the scenario: the scenario comes first", scenario)
	}
	if !slices.Contains(bench.Scenarios, scenario) {
		return usagef("unknown scenario %q (scenarios: %s)", scenario, strings.Join(bench.Scenarios, ", "))
	}
	cli := newCLI(scenario, compare)
	if err := cli.fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.printHelp(stdout)
			return nil
		}
		return usagef("%s: %v", scenario, err)
	}
	if cli.fs.NArg() > 0 {
		return usagef("%s: unexpected arguments %q", scenario, cli.fs.Args())
	}
	return cli.execute(stdout, stderr)
}

func scenarioHelp(scenario string, compare bool, w io.Writer) error {
	if !slices.Contains(bench.Scenarios, scenario) {
		return usagef("unknown scenario %q (scenarios: %s)", scenario, strings.Join(bench.Scenarios, ", "))
	}
	newCLI(scenario, compare).printHelp(w)
	return nil
}

// flagDef is one flag: on every scenario (scenarios nil) or on those listed.
type flagDef struct {
	name      string
	scenarios []string
	usage     string
	define    func(fs *flag.FlagSet, c *cli, name, usage string)
}

// stringList is a flag that may repeat and takes comma-separated values.
type stringList struct {
	vals []string
	set  bool // a default is replaced by the first value given
}

func (l *stringList) String() string { return strings.Join(l.vals, ",") }
func (l *stringList) Set(s string) error {
	if !l.set {
		l.vals, l.set = nil, true
	}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l.vals = append(l.vals, v)
		}
	}
	return nil
}

// targetList collects --target specs (each holds commas of its own, so no splitting).
type targetList []string

func (t *targetList) String() string     { return strings.Join(*t, " ") }
func (t *targetList) Set(s string) error { *t = append(*t, s); return nil }

// cli is one command line's settings.
type cli struct {
	scenario    string
	compare     bool
	fs          *flag.FlagSet
	order       []string // flag names in help order
	cfg         bench.Config
	target      bench.Target
	ws, pids    stringList
	targetSpecs targetList
	rounds      int
	settle      time.Duration
	jsonPath    string
	pngPath     string
	quiet       bool
}

var (
	onlyConnect   = []string{"connect"}
	broadcasts    = []string{"fanout", "channels"}
	sendPhases    = []string{"fanout", "channels", "client-events"}
	presenceLoads = []string{"presence", "rooms"}
)

// flagDefs lists every flag once, in help order: common ones first.
var flagDefs = []flagDef{
	{"name", nil, "the target's name in tables and charts", func(fs *flag.FlagSet, c *cli, n, u string) { fs.StringVar(&c.target.Name, n, "server", u) }},
	{"ws", nil, "WebSocket base URL, loopback only; repeat it or separate with commas for a cluster (sockets are spread over the nodes round-robin)", func(fs *flag.FlagSet, c *cli, n, u string) {
		c.ws = stringList{vals: []string{"ws://127.0.0.1:6001"}}
		fs.Var(&c.ws, n, u)
	}},
	{"http", nil, "HTTP API base URL (loopback only; any node of a cluster)", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.StringVar(&c.target.HTTP, n, "http://127.0.0.1:6001", u)
	}},
	{"app-id", nil, "app id", func(fs *flag.FlagSet, c *cli, n, u string) { fs.StringVar(&c.target.App.ID, n, "app-id", u) }},
	{"key", nil, "app key", func(fs *flag.FlagSet, c *cli, n, u string) { fs.StringVar(&c.target.App.Key, n, "app-key", u) }},
	{"secret", nil, "app secret", func(fs *flag.FlagSet, c *cli, n, u string) { fs.StringVar(&c.target.App.Secret, n, "app-secret", u) }},
	{"server-pid", nil, "server process id, to read CPU seconds and RSS from /proc (0: none); repeat it or separate with commas for a cluster (summed)", func(fs *flag.FlagSet, c *cli, n, u string) { fs.Var(&c.pids, n, u) }},
	{"target", nil, "compare: name=..,ws=..,http=..,pid=..[,app-id=..,key=..,secret=..] (repeat for each server; ws= and pid= repeat within one for a cluster; the first target is compared with the others)", func(fs *flag.FlagSet, c *cli, n, u string) { fs.Var(&c.targetSpecs, n, u) }},
	{"rounds", nil, "compare: rounds, each running every target once in turn", func(fs *flag.FlagSet, c *cli, n, u string) { fs.IntVar(&c.rounds, n, 1, u) }},
	{"settle", nil, "compare: pause between runs", func(fs *flag.FlagSet, c *cli, n, u string) { fs.DurationVar(&c.settle, n, 3*time.Second, u) }},
	{"timeout", nil, "bound on each run, setup included", func(fs *flag.FlagSet, c *cli, n, u string) { fs.DurationVar(&c.cfg.Timeout, n, c.cfg.Timeout, u) }},
	{"connect-rate", nil, "new sockets per second in setup (0: unpaced)", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.Float64Var(&c.cfg.ConnectRate, n, c.cfg.ConnectRate, u)
	}},
	{"connect-concurrency", nil, "handshakes in flight in setup", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.IntVar(&c.cfg.ConnectConcurrency, n, c.cfg.ConnectConcurrency, u)
	}},
	{"json", nil, "write the results as JSON to this file", func(fs *flag.FlagSet, c *cli, n, u string) { fs.StringVar(&c.jsonPath, n, "", u) }},
	{"png", nil, "write the latency CDF chart as PNG to this file", func(fs *flag.FlagSet, c *cli, n, u string) { fs.StringVar(&c.pngPath, n, "", u) }},
	{"quiet", nil, "no progress line", func(fs *flag.FlagSet, c *cli, n, u string) { fs.BoolVar(&c.quiet, n, false, u) }},

	{"connections", onlyConnect, "sockets to open", func(fs *flag.FlagSet, c *cli, n, u string) { fs.IntVar(&c.cfg.Connections, n, c.cfg.Connections, u) }},
	{"subscribers", broadcasts, "fanout: subscribers of the channel; channels: subscribers per channel", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.IntVar(&c.cfg.Subscribers, n, c.cfg.Subscribers, u)
	}},
	{"channels", []string{"connect", "channels"}, "channels: channel count; connect: public channels the sockets are spread over (0: none)", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.IntVar(&c.cfg.Channels, n, c.cfg.Channels, u)
	}},
	{"rate", sendPhases, "events per second: triggered in all (fanout, channels) or sent by each socket (client-events)", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.Float64Var(&c.cfg.Rate, n, c.cfg.Rate, u)
	}},
	{"payload", sendPhases, "event data bytes", func(fs *flag.FlagSet, c *cli, n, u string) { fs.IntVar(&c.cfg.Payload, n, c.cfg.Payload, u) }},
	{"duration", append([]string{"connect"}, sendPhases...), "send phase; connect: idle hold before measuring memory", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.DurationVar(&c.cfg.Duration, n, c.cfg.Duration, u)
	}},
	{"batch", []string{"channels"}, "events per batch_events request (1: /events)", func(fs *flag.FlagSet, c *cli, n, u string) { fs.IntVar(&c.cfg.Batch, n, c.cfg.Batch, u) }},
	{"http-workers", broadcasts, "trigger requests in flight", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.IntVar(&c.cfg.HTTPWorkers, n, c.cfg.HTTPWorkers, u)
	}},
	{"members", []string{"presence"}, "members joining the one presence channel", func(fs *flag.FlagSet, c *cli, n, u string) { fs.IntVar(&c.cfg.Members, n, c.cfg.Members, u) }},
	{"observers", []string{"presence"}, "members (the first to join) that time every member_added", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.IntVar(&c.cfg.Observers, n, c.cfg.Observers, u)
	}},
	{"users", []string{"rooms"}, "sockets, one user each", func(fs *flag.FlagSet, c *cli, n, u string) { fs.IntVar(&c.cfg.Users, n, c.cfg.Users, u) }},
	{"rooms", []string{"rooms"}, "presence channels", func(fs *flag.FlagSet, c *cli, n, u string) { fs.IntVar(&c.cfg.Rooms, n, c.cfg.Rooms, u) }},
	{"rooms-per-user", []string{"rooms"}, "rooms each user is in: user i joins rooms (i*K + j) mod rooms, j < K", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.IntVar(&c.cfg.RoomsPerUser, n, c.cfg.RoomsPerUser, u)
	}},
	{"join-concurrency", presenceLoads, "users joining at a time", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.IntVar(&c.cfg.JoinConcurrency, n, c.cfg.JoinConcurrency, u)
	}},
	{"join-rate", presenceLoads, "joins per second (0: as fast as join-concurrency allows)", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.Float64Var(&c.cfg.JoinRate, n, c.cfg.JoinRate, u)
	}},
	{"churn-rate", presenceLoads, "rejoins per second after the join phase (0: no churn)", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.Float64Var(&c.cfg.ChurnRate, n, c.cfg.ChurnRate, u)
	}},
	{"churn-duration", presenceLoads, "churn phase", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.DurationVar(&c.cfg.ChurnDuration, n, c.cfg.ChurnDuration, u)
	}},
	{"churn-concurrency", []string{"rooms"}, "rejoins in flight at most; one more is skipped and counted", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.IntVar(&c.cfg.ChurnConcurrency, n, c.cfg.ChurnConcurrency, u)
	}},
	{"reconnect-share", []string{"rooms"}, "share of rejoins done by reconnecting (a page reload: new socket, all rooms at once); the others unsubscribe from one room and subscribe again", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.Float64Var(&c.cfg.ReconnectShare, n, c.cfg.ReconnectShare, u)
	}},
	{"pairs", []string{"client-events"}, "socket pairs", func(fs *flag.FlagSet, c *cli, n, u string) { fs.IntVar(&c.cfg.Pairs, n, c.cfg.Pairs, u) }},
	{"drain", []string{"fanout", "channels", "client-events", "presence", "rooms"}, "wait after the last send for what is in flight; presence and rooms: bound on the wait for quiet before checking views", func(fs *flag.FlagSet, c *cli, n, u string) {
		fs.DurationVar(&c.cfg.Drain, n, c.cfg.Drain, u)
	}},
}

// newCLI makes the flag set of scenario: the common flags and the scenario's own, with the
// scenario's defaults.
func newCLI(scenario string, compare bool) *cli {
	c := &cli{scenario: scenario, compare: compare, cfg: bench.ScenarioConfig(scenario)}
	name := "herald-bench " + scenario
	if compare {
		name = "herald-bench compare " + scenario
	}
	c.fs = flag.NewFlagSet(name, flag.ContinueOnError)
	c.fs.SetOutput(io.Discard) // errors are reported once, by run; help goes to stdout
	for _, d := range flagDefs {
		if d.scenarios == nil || slices.Contains(d.scenarios, scenario) {
			d.define(c.fs, c, d.name, d.usage)
			c.order = append(c.order, d.name)
		}
	}
	return c
}

// printOverview is the top-level help: scenarios, one line each, and the common flags.
func printOverview(w io.Writer) {
	fmt.Fprint(w, `herald-bench loads a Pusher Channels server (herald, soketi, any other) through the public
protocol and measures it. Every load targets loopback and is bounded in count and time.

Usage:
  herald-bench <scenario> [flags]             run against one server (--ws, --http, --server-pid)
  herald-bench compare <scenario> [flags]     run against several --target servers in turn, with ratios
  herald-bench <scenario> --help              every flag of a scenario, with its defaults

Scenarios:
`)
	width := 0
	for _, s := range bench.Scenarios {
		width = max(width, len(s))
	}
	for _, s := range bench.Scenarios {
		fmt.Fprintf(w, "  %-*s  %s\n", width, s, bench.ScenarioSummary(s))
	}
	fmt.Fprint(w, "\nCommon flags (after the scenario):\n")
	c := newCLI(bench.Scenarios[0], false)
	for _, d := range flagDefs {
		if d.scenarios == nil {
			c.printFlag(w, d.name)
		}
	}
}

// printHelp lists every flag of the scenario with its default: the scenario's own first.
func (c *cli) printHelp(w io.Writer) {
	cmd := "herald-bench " + c.scenario
	if c.compare {
		cmd = "herald-bench compare " + c.scenario
	}
	fmt.Fprintf(w, "%s: %s\n\nUsage:\n  %s [flags]\n\nFlags of %s:\n", cmd, bench.ScenarioSummary(c.scenario), cmd, c.scenario)
	for _, d := range flagDefs {
		if d.scenarios != nil && slices.Contains(d.scenarios, c.scenario) {
			c.printFlag(w, d.name)
		}
	}
	fmt.Fprint(w, "\nTarget, compare and output flags:\n")
	for _, d := range flagDefs {
		if d.scenarios == nil {
			c.printFlag(w, d.name)
		}
	}
}

// printFlag prints one flag with its default, always (flag.PrintDefaults leaves zero defaults
// out, which hides what a run will do).
func (c *cli) printFlag(w io.Writer, name string) {
	f := c.fs.Lookup(name)
	typ, usage := flag.UnquoteUsage(f)
	def := f.DefValue
	switch f.Value.(type) {
	case *stringList, *targetList:
		typ = "list"
		if def == "" {
			def = "none"
		}
	default:
		if typ == "string" {
			def = strconv.Quote(def)
		}
		if typ == "" {
			typ = "bool"
		}
	}
	fmt.Fprintf(w, "  --%s %s\n      %s (default %s)\n", name, typ, usage, def)
}

// targets are the servers the command line names: --target specs in compare, else the one
// target of --ws, --http, --server-pid and the app flags.
func (c *cli) targets() ([]bench.Target, error) {
	if c.compare {
		if len(c.targetSpecs) == 0 {
			return nil, usagef("compare needs --target (repeat it for each server)")
		}
		def := bench.Target{App: pusherclient.App{ID: c.target.App.ID, Key: c.target.App.Key, Secret: c.target.App.Secret}}
		var ts []bench.Target
		for _, spec := range c.targetSpecs {
			t, err := bench.ParseTarget(spec, def)
			if err != nil {
				return nil, usageError{err.Error()}
			}
			ts = append(ts, t)
		}
		return ts, nil
	}
	t := c.target
	t.WS = c.ws.vals
	for _, p := range c.pids.vals {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, usagef("--server-pid %q is not a process id", p)
		}
		if n > 0 { // 0: unknown (the Taskfile's default)
			t.PIDs = append(t.PIDs, n)
		}
	}
	if err := t.Validate(); err != nil {
		return nil, usageError{err.Error()}
	}
	return []bench.Target{t}, nil
}

// execute runs the command line's load and writes the results.
func (c *cli) execute(stdout, stderr io.Writer) error {
	targets, err := c.targets()
	if err != nil {
		return err
	}
	cfg := c.cfg
	if !c.quiet {
		cfg.Progress = progressPrinter(stderr)
	}
	logf := func(format string, a ...any) { endProgress(stderr); fmt.Fprintf(stderr, format+"\n", a...) }

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if n, err := bench.RaiseFileLimit(); err == nil && !c.quiet {
		logf("open-file limit %d", n)
	}

	var results []*bench.Result
	if c.compare {
		if results, err = bench.Compare(ctx, c.scenario, targets, cfg, c.rounds, c.settle, logf); err != nil {
			return err
		}
	} else {
		res, err := bench.Run(ctx, c.scenario, targets[0], cfg)
		endProgress(stderr)
		if err != nil && (res == nil || !errors.Is(err, context.Canceled)) {
			return err
		}
		if err != nil { // interrupted: still show what was measured
			res.Notes = append(res.Notes, "interrupted: figures are partial")
		}
		results = []*bench.Result{res}
	}
	endProgress(stderr)
	if err := bench.WriteMarkdown(stdout, results); err != nil {
		return err
	}
	if c.jsonPath != "" {
		if err := bench.NewReport(results).WriteJSON(c.jsonPath); err != nil {
			return err
		}
	}
	if c.pngPath != "" {
		title := fmt.Sprintf("%s: %s latency", c.scenario, results[0].Primary)
		if err := bench.WriteCDFChart(c.pngPath, title, bench.ChartSeries(results)); err != nil {
			return err
		}
	}
	return nil
}

var progressOpen atomic.Bool

// progressPrinter rewrites one status line on a terminal, or prints a line each time elsewhere.
func progressPrinter(w io.Writer) func(string) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return func(line string) {
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", line)
			progressOpen.Store(true)
			return
		}
		fmt.Fprintln(w, line)
	}
}

func endProgress(w io.Writer) {
	if progressOpen.Swap(false) {
		fmt.Fprintln(w)
	}
}
