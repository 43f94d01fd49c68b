package bench

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/plotutil"
)

func testSeries() []Series {
	var series []Series
	for i, scale := range []float64{0.5, 3, 40} {
		h := NewHistogram()
		r := rand.New(rand.NewPCG(uint64(i), 9))
		for range 5000 {
			h.Record(time.Duration(r.ExpFloat64() * scale * float64(time.Millisecond)))
		}
		series = append(series, Series{Name: []string{"herald", "soketi", "baseline"}[i], CDF: h.CDF(0)})
	}
	return series
}

func TestWriteCDFChart(t *testing.T) {
	series := testSeries()
	path := filepath.Join(t.TempDir(), "cdf.png")
	if err := WriteCDFChart(path, "fanout: delivery latency", series); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != ChartWidth || b.Dy() != ChartHeight {
		t.Fatalf("size %v, want %dx%d", b, ChartWidth, ChartHeight)
	}
	// Every series' line colour is on the picture, and a good share of it is not background:
	// a blank or single-colour image fails.
	for i := range series {
		if n := countColor(img, plotutil.Color(i)); n < 200 {
			t.Errorf("series %d (%s): %d pixels of its colour", i, series[i].Name, n)
		}
	}
	if nonWhite := ChartWidth*ChartHeight - countColor(img, color.White); nonWhite < ChartWidth*ChartHeight/100 {
		t.Errorf("only %d non-white pixels: the chart is nearly blank", nonWhite)
	}
	if os.Getenv("BENCH_KEEP_CHART") != "" {
		_ = os.WriteFile(os.Getenv("BENCH_KEEP_CHART"), mustRead(t, path), 0o644)
	}
}

// The SVG rendering of the same plot holds its texts, so the title, axis labels, percentile
// ticks and every legend name can be checked as text.
func TestCDFChartTexts(t *testing.T) {
	series := testSeries()
	var svg bytes.Buffer
	if err := RenderCDFChart(&svg, "svg", "rooms: subscribe latency", series); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rooms: subscribe latency", "latency (ms, log scale)", "p99.9", "p50", "herald", "soketi", "baseline"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("chart has no text %q", want)
		}
	}
	p, err := CDFPlot("t", series)
	if err != nil {
		t.Fatal(err)
	}
	// The x axis covers every series from the decade below its first percentile.
	if p.X.Min <= 0 || p.X.Max < 100 || p.X.Min > 0.1 {
		t.Errorf("x axis %v..%v", p.X.Min, p.X.Max)
	}
}

func TestChartSeriesNames(t *testing.T) {
	h := NewHistogram()
	for i := range 100 {
		h.Record(time.Duration(i+1) * time.Millisecond)
	}
	r := &Result{Target: "herald"}
	r.setHist("subscribe", h)
	r.Primary = "subscribe"
	empty := &Result{Target: "nothing", Primary: "subscribe"}
	s := ChartSeries([]*Result{r, empty})
	if len(s) != 1 || !strings.HasPrefix(s[0].Name, "herald: p50 ") || !strings.Contains(s[0].Name, "p99 99.") || len(s[0].CDF) == 0 {
		t.Fatalf("series %+v", s)
	}
}

func TestEmptyChart(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderCDFChart(&buf, "png", "nothing", nil); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != ChartWidth || img.Bounds().Dy() != ChartHeight {
		t.Fatalf("size %v", img.Bounds())
	}
	if err := RenderCDFChart(&buf, "bmp", "x", nil); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func countColor(img image.Image, c color.Color) int {
	wr, wg, wb, _ := c.RGBA()
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 == wr>>8 && g>>8 == wg>>8 && bl>>8 == wb>>8 {
				n++
			}
		}
	}
	return n
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
