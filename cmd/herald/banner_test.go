package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/telemetry"
)

// readmeBanner is the banner README.md shows: the fenced block after the line that says what
// `go run ./cmd/herald` prints.
func readmeBanner(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "`go run ./cmd/herald` prints")
	if !ok {
		t.Fatal("README.md no longer says what `go run ./cmd/herald` prints")
	}
	_, block, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatal("no fenced block after it")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("the fenced block does not end")
	}
	return block
}

// TestREADMEBanner: the banner README.md shows is the one herald prints for `go run
// ./cmd/herald`: the embedded defaults, their addresses, no file and no HERALD_* variables.
func TestREADMEBanner(t *testing.T) {
	cfg := configs.Default()
	tc := telemetryConfig(cfg)
	tc.MetricsListen = "" // the addresses are the config's; the test binds nothing
	tel, err := telemetry.Setup(context.Background(), tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	var got strings.Builder
	banner{cfg: cfg, listen: cfg.Listen, metrics: cfg.MetricsListen, traces: tel.TracesDestination()}.write(&got)
	if want := readmeBanner(t); got.String() != want {
		t.Errorf("README.md shows the banner\n%s\nherald prints\n%s", want, got.String())
	}
}

// TestREADMEBannerIsTheBinarys: the banner the real binary prints has the README's lines, but
// for the addresses (the test's are free ports) and the environment line (the test's variables).
func TestREADMEBannerIsTheBinarys(t *testing.T) {
	p := startHerald(t, nil)
	var lines []string
	for _, line := range p.banner {
		if strings.HasPrefix(line, "  environment ") {
			continue
		}
		line = strings.ReplaceAll(line, p.listen, "127.0.0.1:6001")
		lines = append(lines, strings.ReplaceAll(line, p.metrics, "127.0.0.1:9601"))
	}
	if got, want := strings.Join(lines, "\n")+"\n", readmeBanner(t); got != want {
		t.Errorf("README.md shows the banner\n%s\nthe binary prints\n%s", want, got)
	}
}
