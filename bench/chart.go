package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strconv"
)

// Series is one line of a latency chart.
type Series struct {
	Name string
	CDF  []CDFPoint
}

// ChartSize is the PNG's size in pixels.
const (
	ChartWidth  = 960
	ChartHeight = 600
)

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {23, 190, 207, 255},
}

var (
	colBG   = color.RGBA{255, 255, 255, 255}
	colAxis = color.RGBA{40, 40, 40, 255}
	colGrid = color.RGBA{225, 225, 225, 255}
	colText = color.RGBA{20, 20, 20, 255}
)

// DrawCDFChart draws the latency CDF of each series: latency on a log axis (decades), the
// cumulative fraction on a tail-stretching axis (p50, p90, p99, p99.9 evenly spaced), and a
// legend.
func DrawCDFChart(title string, series []Series) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, ChartWidth, ChartHeight))
	draw.Draw(img, img.Bounds(), &image.Uniform{colBG}, image.Point{}, draw.Src)
	const left, right, top, bottom = 90, 30, 60, 70
	pw, ph := ChartWidth-left-right, ChartHeight-top-bottom

	drawText(img, left, 16, title, colText, 2)

	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.CDF {
			// The axis starts at the first percentile: a few outliers near zero would waste
			// decades; what is below is drawn at the axis.
			if p.ValueMs > 0 && p.Fraction >= 0.01 {
				lo = math.Min(lo, p.ValueMs)
			}
			hi = math.Max(hi, p.ValueMs)
		}
	}
	if math.IsInf(lo, 1) || hi <= 0 {
		lo, hi = 0.1, 1000
	}
	hi = math.Max(hi, lo)
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	xOf := func(ms float64) int {
		ms = math.Max(ms, math.Pow(10, dlo))
		return left + int(math.Round((math.Log10(ms)-dlo)/(dhi-dlo)*float64(pw)))
	}
	// The fraction axis stretches the tail: -log10(1-f), so p90, p99 and p99.9 are evenly
	// spaced, up to p99.99 at the top.
	const tailMax = 4.0
	yOf := func(f float64) int {
		t := tailMax
		if f < 1 {
			t = math.Min(-math.Log10(1-f), tailMax)
		}
		return top + ph - int(math.Round(t/tailMax*float64(ph)))
	}

	// Grid and axes.
	for d := dlo; d <= dhi; d++ {
		x := xOf(math.Pow(10, d))
		vline(img, x, top, top+ph, colGrid)
		label := decadeLabel(d)
		drawText(img, x-textWidth(label, 1)/2, top+ph+8, label, colText, 1)
		for _, m := range []float64{2, 5} {
			if v := m * math.Pow(10, d); d < dhi {
				vline(img, xOf(v), top+ph-4, top+ph, colAxis)
			}
		}
	}
	for _, f := range []struct {
		v     float64
		label string
	}{{0, "P0"}, {0.5, "P50"}, {0.75, "P75"}, {0.9, "P90"}, {0.99, "P99"}, {0.999, "P99.9"}, {0.9999, "P99.99"}} {
		y := yOf(f.v)
		hline(img, left, left+pw, y, colGrid)
		drawText(img, left-8-textWidth(f.label, 1), y-3, f.label, colText, 1)
	}
	vline(img, left, top, top+ph, colAxis)
	hline(img, left, left+pw, top+ph, colAxis)
	xl := "LATENCY (MS, LOG SCALE)"
	drawText(img, left+pw/2-textWidth(xl, 1)/2, top+ph+28, xl, colText, 1)
	drawText(img, 8, top-14, "PERCENTILE (TAIL-STRETCHED)", colText, 1)

	// Lines, as steps: each point's fraction holds until the next point's latency.
	for i, s := range series {
		c := palette[i%len(palette)]
		prevX, prevY := -1, yOf(0)
		for _, p := range s.CDF {
			x, y := xOf(p.ValueMs), yOf(p.Fraction)
			if prevX < 0 {
				prevX = x
			}
			thickLine(img, prevX, prevY, x, prevY, c)
			thickLine(img, x, prevY, x, y, c)
			prevX, prevY = x, y
		}
	}

	// Legend, top left inside the plot.
	lx, ly := left+12, top+ph-14*len(series)-10
	for i, s := range series {
		c := palette[i%len(palette)]
		for dy := range 4 {
			hline(img, lx, lx+24, ly+2+dy, c)
		}
		drawText(img, lx+32, ly, s.Name, colText, 1)
		ly += 14
	}
	return img
}

// WriteCDFChart draws the chart and writes it to path as PNG.
func WriteCDFChart(path, title string, series []Series) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	if err := png.Encode(f, DrawCDFChart(title, series)); err != nil {
		_ = f.Close()
		return fmt.Errorf("bench: chart: %w", err)
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
			Name: fmt.Sprintf("%s  P50 %s P99 %s MAX %s MS", r.Target, short(s.P50Ms), short(s.P99Ms), short(s.MaxMs)),
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

func decadeLabel(d float64) string {
	v := math.Pow(10, d)
	if d >= 0 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', int(-d), 64)
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

// thickLine draws a 2-pixel line from (x0, y0) to (x1, y1).
func thickLine(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0+1, y0, c)
		img.Set(x0, y0+1, c)
		img.Set(x0+1, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
