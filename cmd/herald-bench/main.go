// Command herald-bench loads a Pusher Channels server and measures it: see package bench.
//
//	herald-bench <scenario> [flags]            one target (--ws, --http, --app-id, --key, --secret, --server-pid)
//	herald-bench compare <scenario> [flags]    several --target name=..,ws=..,http=..,pid=.. alternately, with ratios
//
// Scenarios: connect, fanout, channels, presence, client-events. Every load targets loopback,
// is bounded in count and time, and stops by itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herald-io/herald/bench"
	"github.com/herald-io/herald/bench/pusherclient"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		os.Exit(1)
	}
}

type targetList []string

func (t *targetList) String() string     { return strings.Join(*t, " ") }
func (t *targetList) Set(s string) error { *t = append(*t, s); return nil }

func usage() {
	fmt.Fprintf(os.Stderr, `usage:
  herald-bench <scenario> [flags]
  herald-bench compare <scenario> --target name=herald,ws=ws://127.0.0.1:6001,http=http://127.0.0.1:6001,pid=PID --target ... [flags]
scenarios: %s
flags (after the scenario):
`, strings.Join(bench.Scenarios, ", "))
}

func run(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		usage()
		return errors.New("no scenario")
	}
	compare := args[0] == "compare"
	if compare {
		args = args[1:]
		if len(args) == 0 {
			usage()
			return errors.New("compare needs a scenario")
		}
	}
	scenario := args[0]
	cfg := bench.ScenarioConfig(scenario)
	fs := flag.NewFlagSet("herald-bench "+scenario, flag.ContinueOnError)
	fs.Usage = func() { usage(); fs.PrintDefaults() }

	var t bench.Target
	fs.StringVar(&t.Name, "name", "server", "the target's name in tables and charts")
	fs.StringVar(&t.WS, "ws", "ws://127.0.0.1:6001", "WebSocket base URL (loopback only)")
	fs.StringVar(&t.HTTP, "http", "http://127.0.0.1:6001", "HTTP API base URL (loopback only)")
	fs.StringVar(&t.App.ID, "app-id", "app-id", "app id")
	fs.StringVar(&t.App.Key, "key", "app-key", "app key")
	fs.StringVar(&t.App.Secret, "secret", "app-secret", "app secret")
	fs.IntVar(&t.PID, "server-pid", 0, "server process id, to read its CPU seconds and RSS from /proc")
	var targets targetList
	fs.Var(&targets, "target", "compare: name=..,ws=..,http=..,pid=..[,app-id=..,key=..,secret=..] (repeat; the first is compared with the others)")
	rounds := fs.Int("rounds", 1, "compare: rounds, each running every target once in turn")
	settle := fs.Duration("settle", 3*time.Second, "compare: pause between runs")

	fs.IntVar(&cfg.Connections, "connections", cfg.Connections, "connect: sockets to open")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", cfg.ConnectRate, "new sockets per second in setup (0: unpaced)")
	fs.IntVar(&cfg.ConnectConcurrency, "connect-concurrency", cfg.ConnectConcurrency, "handshakes in flight")
	fs.IntVar(&cfg.Subscribers, "subscribers", cfg.Subscribers, "fanout: subscribers; channels: subscribers per channel")
	fs.IntVar(&cfg.Channels, "channels", cfg.Channels, "channels: channel count; connect: public channels to subscribe to (0: none)")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "events per second: triggered (fanout, channels) or sent per socket (client-events)")
	fs.IntVar(&cfg.Payload, "payload", cfg.Payload, "event data bytes")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "send phase; connect: idle hold before measuring memory")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "wait after the last send for deliveries in flight")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "channels: events per batch_events request (1: /events)")
	fs.IntVar(&cfg.HTTPWorkers, "http-workers", cfg.HTTPWorkers, "trigger requests in flight")
	fs.IntVar(&cfg.Members, "members", cfg.Members, "presence: members joining one channel")
	fs.IntVar(&cfg.Observers, "observers", cfg.Observers, "presence: members that time every member_added")
	fs.IntVar(&cfg.JoinConcurrency, "join-concurrency", cfg.JoinConcurrency, "presence: subscribes in flight")
	fs.Float64Var(&cfg.JoinRate, "join-rate", cfg.JoinRate, "presence: joins per second (0: as fast as join-concurrency allows)")
	fs.Float64Var(&cfg.ChurnRate, "churn-rate", cfg.ChurnRate, "presence: leave-and-rejoin per second after joining (0: no churn)")
	fs.DurationVar(&cfg.ChurnDuration, "churn-duration", cfg.ChurnDuration, "presence: churn phase")
	fs.IntVar(&cfg.Pairs, "pairs", cfg.Pairs, "client-events: socket pairs")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on each run, setup included")
	jsonPath := fs.String("json", "", "write the results as JSON to this file")
	pngPath := fs.String("png", "", "write the latency CDF chart as PNG to this file")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !*quiet {
		cfg.Progress = progressPrinter()
	}
	logf := func(format string, a ...any) { endProgress(); fmt.Fprintf(os.Stderr, format+"\n", a...) }

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if n, err := bench.RaiseFileLimit(); err == nil && !*quiet {
		logf("open-file limit %d", n)
	}

	var results []*bench.Result
	if compare {
		if len(targets) == 0 {
			return errors.New("compare needs --target (repeat it for each server)")
		}
		def := bench.Target{App: pusherclient.App{ID: t.App.ID, Key: t.App.Key, Secret: t.App.Secret}}
		var ts []bench.Target
		for _, spec := range targets {
			tt, err := bench.ParseTarget(spec, def)
			if err != nil {
				return err
			}
			ts = append(ts, tt)
		}
		var err error
		if results, err = bench.Compare(ctx, scenario, ts, cfg, *rounds, *settle, logf); err != nil {
			return err
		}
	} else {
		res, err := bench.Run(ctx, scenario, t, cfg)
		endProgress()
		if err != nil && (res == nil || !errors.Is(err, context.Canceled)) {
			return err
		}
		if err != nil { // interrupted: still show what was measured
			res.Notes = append(res.Notes, "interrupted: figures are partial")
		}
		results = []*bench.Result{res}
	}
	endProgress()
	if err := bench.WriteMarkdown(os.Stdout, results); err != nil {
		return err
	}
	if *jsonPath != "" {
		if err := bench.NewReport(results).WriteJSON(*jsonPath); err != nil {
			return err
		}
	}
	if *pngPath != "" {
		title := fmt.Sprintf("%s: %s latency", scenario, results[0].Primary)
		if err := bench.WriteCDFChart(*pngPath, title, bench.ChartSeries(results)); err != nil {
			return err
		}
	}
	return nil
}

var progressOpen atomic.Bool

// progressPrinter rewrites one status line on a terminal, or prints a line each time elsewhere.
func progressPrinter() func(string) {
	tty := false
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		tty = true
	}
	return func(line string) {
		if tty {
			fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
			progressOpen.Store(true)
			return
		}
		fmt.Fprintln(os.Stderr, line)
	}
}

func endProgress() {
	if progressOpen.Swap(false) {
		fmt.Fprintln(os.Stderr)
	}
}
