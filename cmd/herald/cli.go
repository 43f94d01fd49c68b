package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/herald-io/herald/configs"
)

// docsURL is where the documentation starts.
const docsURL = "https://github.com/herald-io/herald#readme"

// options are what the command line asks for.
type options struct {
	configPath    string
	listen        string
	metricsListen string
	printDefaults bool
	version       bool
	help          bool
	// set lists the flags given, so that an empty --metrics-listen (metrics off) is told
	// apart from no flag at all.
	set map[string]bool
}

// usageError is a command line herald does not understand: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parseArgs reads the flags of `herald [flags]`. Positional arguments are refused: `herald
// my.yaml` would otherwise serve the embedded default app as if the file had been read.
func parseArgs(args []string) (options, error) {
	o := options{set: map[string]bool{}}
	fs := newFlagSet(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			o.help = true
			return o, nil
		}
		return o, usageError{err.Error()}
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if fs.NArg() > 0 {
		arg := fs.Arg(0)
		hint := "herald takes flags only"
		if ext := strings.ToLower(filepath.Ext(arg)); ext == ".yaml" || ext == ".yml" || ext == ".json" {
			hint = "to read a config file, use --config " + arg
		}
		return o, usageError{fmt.Sprintf("unexpected argument %q: %s", arg, hint)}
	}
	return o, nil
}

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("herald", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors once; help goes to stdout
	fs.StringVar(&o.configPath, "config", "", "YAML config `file` to read over the embedded defaults (keys as in herald --print-default-config)")
	fs.StringVar(&o.listen, "listen", "", "`host:port` of the WebSocket endpoint and the HTTP API, over listen in the config (port 0: any free port)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "`host:port` of /metrics, /up and /ready, over metrics_listen in the config (port 0: any free port; \"\": off)")
	fs.BoolVar(&o.printDefaults, "print-default-config", false, "print the embedded default config, every key documented, and exit")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	return fs
}

// overrides are the config keys the flags set.
func (o options) overrides() map[string]any {
	out := map[string]any{}
	if o.listen != "" {
		out["listen"] = o.listen
	}
	if o.set["metrics-listen"] {
		out["metrics_listen"] = o.metricsListen
	}
	return out
}

// printUsage is `herald --help`: the commands, every flag, how the configuration is found and
// layered, the HERALD_* rules, and where the documentation is.
func printUsage(w io.Writer) {
	def := configs.Default()
	fmt.Fprintf(w, `herald is a Pusher Channels protocol (v7) server: apps built on pusher-js, laravel-echo and
the Pusher HTTP libraries work against it by changing the host and the credentials.

Usage:
  herald [flags]         serve (with no flags: the embedded default app on %s)
  herald version         print the version and commit, and exit (also --version)
  herald probe URL       GET URL; exit 0 on a 2xx answer within 2s (the container's health check)

Flags:
`, def.Listen)
	var o options
	fs := newFlagSet(&o)
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if typ != "" {
			typ = " " + typ
		}
		fmt.Fprintf(w, "  --%s%s\n      %s\n", f.Name, typ, usage)
	})
	fmt.Fprintf(w, `  -h, --help
      this help

Configuration, each layer over the one before:
  1. the embedded defaults: every key with its default and meaning (herald --print-default-config)
  2. the YAML file named by --config; herald looks for no other file: without --config, no file is read
  3. HERALD_* environment variables
  4. the flags above
A key in the file or a HERALD_* variable that herald does not read stops it at start, with the
key it most likely meant. Apps in a file inherit the default app's options and limits, never its
credentials.

Environment variables: HERALD_ and the key in capitals, __ between levels, a number indexing a
list (apps, an app's webhooks); a list of values takes commas:
  HERALD_LOG__LEVEL=debug                            log.level
  HERALD_APPS__0__SECRET="$(openssl rand -hex 32)"   apps[0].secret, the first app's secret
  HERALD_APPS__0__WEBHOOKS__0__URL=https://example.com/pusher/webhook
  HERALD_CONNECTION_RATE_EXEMPT=127.0.0.0/8,10.0.0.0/8

Listening beyond loopback (e.g. --listen 0.0.0.0:%s), herald refuses the embedded default
credentials and app secrets shorter than %d bytes.

Docs: %s
`, portOf(def.Listen), configs.MinSecretBytes, docsURL)
}

func portOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

// commit is the commit the binary was built from when the build says so with
// -ldflags "-X main.commit=..." (the Taskfile's builds do): the Go toolchain's own stamp is
// missing under -buildvcs=false, in a git worktree, and from go run.
var commit string

// versionLine is `herald version`: the module version and the commit the binary was built from.
func versionLine() string {
	version, rev, modified := "(unknown)", commit, false
	goVersion := runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && rev == "":
				rev = s.Value
			case s.Key == "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	if modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("herald %s commit %s %s %s/%s", version, rev, goVersion, runtime.GOOS, runtime.GOARCH)
}
