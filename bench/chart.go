package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series is one line of a latency chart.
type Series struct {
	Name string
	CDF  []CDFPoint
}

// ChartWidth and ChartHeight are the PNG's size in pixels (at chartDPI).
const (
	ChartWidth  = 960
	ChartHeight = 600
	chartDPI    = 96
)

// tailMax is the top of the fraction axis in "nines": 4 is p99.99.
const tailMax = 4.0

// tailOf maps a cumulative fraction to -log10(1-f), capped at tailMax, so that p90, p99 and
// p99.9 are evenly spaced: the tail is what a latency comparison is about, and a linear
// fraction axis squeezes it into the top few pixels.
func tailOf(f float64) float64 {
	if f >= 1 {
		return tailMax
	}
	return math.Min(-math.Log10(1-f), tailMax)
}

// fractionTicks labels the tail-stretched axis with percentiles.
var fractionTicks = plot.ConstantTicks{
	{Value: tailOf(0), Label: "p0"},
	{Value: tailOf(0.5), Label: "p50"},
	{Value: tailOf(0.75), Label: "p75"},
	{Value: tailOf(0.9), Label: "p90"},
	{Value: tailOf(0.99), Label: "p99"},
	{Value: tailOf(0.999), Label: "p99.9"},
	{Value: tailOf(0.9999), Label: "p99.99"},
}

// CDFPlot builds the latency CDF chart of each series: latency on a log axis, the cumulative
// fraction on a tail-stretching axis, a legend with the series' names.
func CDFPlot(title string, series []Series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.Title.Padding = vg.Points(8)
	p.X.Label.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text = "latency (ms, log scale)"
	p.Y.Label.Text = "percentile (tail-stretched)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Tick.Marker = fractionTicks
	p.Y.Min, p.Y.Max = 0, tailMax
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(10), -vg.Points(6)
	p.Legend.TextStyle.Font.Size = vg.Points(11)

	// The log axis starts at the decade below the first percentile: a few outliers near zero
	// would waste decades. What lies below is drawn at the axis.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, pt := range s.CDF {
			if pt.ValueMs > 0 && pt.Fraction >= 0.01 {
				lo = math.Min(lo, pt.ValueMs)
			}
			hi = math.Max(hi, pt.ValueMs)
		}
	}
	if math.IsInf(lo, 1) || hi <= 0 {
		lo, hi = 0.1, 1000
	}
	p.X.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.X.Max = math.Pow(10, math.Ceil(math.Log10(math.Max(hi, lo))))
	if p.X.Max <= p.X.Min {
		p.X.Max = p.X.Min * 10
	}

	for i, s := range series {
		if len(s.CDF) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, len(s.CDF)+1)
		// Start at p0 below the first point, so that each line rises from the axis.
		xys = append(xys, plotter.XY{X: math.Max(s.CDF[0].ValueMs, p.X.Min), Y: 0})
		for _, pt := range s.CDF {
			xys = append(xys, plotter.XY{X: math.Max(pt.ValueMs, p.X.Min), Y: tailOf(pt.Fraction)})
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("bench: chart series %q: %w", s.Name, err)
		}
		// A histogram's CDF is a step function: each fraction holds until the next bucket.
		line.StepStyle = plotter.PostStep
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(2)
		p.Add(line)
		p.Legend.Add(s.Name, line)
	}
	return p, nil
}

// RenderCDFChart draws the chart in format ("png", "svg", "pdf", ...) at ChartWidth x
// ChartHeight pixels and writes it to w.
func RenderCDFChart(w io.Writer, format, title string, series []Series) error {
	p, err := CDFPlot(title, series)
	if err != nil {
		return err
	}
	width, height := vg.Length(ChartWidth)*vg.Inch/chartDPI, vg.Length(ChartHeight)*vg.Inch/chartDPI
	var wt io.WriterTo
	if format == "png" {
		// vgimg at an explicit DPI, so that the PNG is exactly ChartWidth x ChartHeight.
		c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(chartDPI))
		p.Draw(draw.New(c))
		wt = vgimg.PngCanvas{Canvas: c}
	} else if wt, err = p.WriterTo(width, height, format); err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	return nil
}

// WriteCDFChart draws the chart and writes it to path as PNG.
func WriteCDFChart(path, title string, series []Series) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	if err := RenderCDFChart(f, "png", title, series); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// ChartSeries is the primary latency of each result, named by target.
func ChartSeries(results []*Result) []Series {
	var out []Series
	for _, r := range results {
		h := r.Hist(r.Primary)
		if h == nil || h.Count() == 0 {
			continue
		}
		s := r.Latencies[r.Primary]
		out = append(out, Series{
			Name: fmt.Sprintf("%s: p50 %s ms, p99 %s ms, max %s ms", r.Target, short(s.P50Ms), short(s.P99Ms), short(s.MaxMs)),
			CDF:  h.CDF(0),
		})
	}
	return out
}

func short(ms float64) string {
	switch {
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64)
	case ms >= 1:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	default:
		return strconv.FormatFloat(ms, 'f', 3, 64)
	}
}
