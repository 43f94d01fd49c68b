package bench

import (
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteCDFChart(t *testing.T) {
	var series []Series
	for i, scale := range []float64{0.5, 3, 40} {
		h := NewHistogram()
		r := rand.New(rand.NewPCG(uint64(i), 9))
		for range 5000 {
			h.Record(time.Duration(r.ExpFloat64() * scale * float64(time.Millisecond)))
		}
		series = append(series, Series{Name: []string{"herald", "soketi", "baseline"}[i], CDF: h.CDF(0)})
	}
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
		t.Fatalf("size %v", b)
	}
	// Each series' color must be on the picture.
	for i := range series {
		want := palette[i]
		found := false
		for y := 0; y < ChartHeight && !found; y++ {
			for x := 0; x < ChartWidth; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B {
					found = true
					break
				}
			}
		}
		if !found {
			t.Fatalf("series %d's color is missing", i)
		}
	}
	if os.Getenv("BENCH_KEEP_CHART") != "" {
		_ = os.WriteFile(os.Getenv("BENCH_KEEP_CHART"), mustRead(t, path), 0o644)
	}
}

func TestEmptyChart(t *testing.T) {
	img := DrawCDFChart("nothing", nil)
	if img.Bounds().Dx() != ChartWidth {
		t.Fatal("size")
	}
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
