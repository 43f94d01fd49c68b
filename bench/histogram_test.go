package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestHistIndexBounds(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 1 << 20, 123456789, histMaxValue} {
		i := histIndex(v)
		if i < prev {
			t.Fatalf("index not monotonic at %d", v)
		}
		prev = i
		low, width := histBounds(i)
		if v < low || v >= low+width {
			t.Fatalf("value %d in bucket %d [%d, %d)", v, i, low, low+width)
		}
		if v >= 256 && float64(width)/float64(low) > 1.0/histSubCount+1e-12 {
			t.Fatalf("bucket %d too wide: %d at %d", i, width, low)
		}
	}
	if histIndex(histMaxValue) != histBuckets-1 {
		t.Fatal("last bucket")
	}
}

func TestHistogramQuantiles(t *testing.T) {
	cases := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform 0-10ms", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(10 * time.Millisecond))) }},
		{"exponential 2ms", func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * float64(2*time.Millisecond)) }},
		{"lognormal", func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(r.NormFloat64()*1.5) * float64(time.Millisecond))
		}},
		{"small integers", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(300)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			h := NewHistogram()
			vals := make([]time.Duration, 100000)
			for i := range vals {
				vals[i] = tc.gen(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != int64(len(vals)) || h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Fatalf("count/min/max = %d %v %v", h.Count(), h.Min(), h.Max())
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
				exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
				got := h.Quantile(q)
				if got < exact || float64(got-exact) > float64(exact)/histSubCount+1 {
					t.Errorf("q%.3f = %v, exact %v", q, got, exact)
				}
			}
			var sum time.Duration
			for _, v := range vals {
				sum += v
			}
			if mean := sum / time.Duration(len(vals)); h.Mean() != mean {
				t.Errorf("mean %v, want %v", h.Mean(), mean)
			}
		})
	}
}

func TestHistogramEdges(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 || h.CDF(10) != nil {
		t.Fatal("empty histogram not zero")
	}
	h.Record(-5)
	h.Record(100 * 24 * time.Hour) // clamped
	if h.Min() != 0 || h.Max() != time.Duration(histMaxValue) {
		t.Fatalf("min %v max %v", h.Min(), h.Max())
	}
	if h.Quantile(0) != 0 || h.Quantile(1) != time.Duration(histMaxValue) || h.Quantile(0.5) != 0 {
		t.Fatalf("quantiles %v %v %v", h.Quantile(0), h.Quantile(0.5), h.Quantile(1))
	}
}

func TestHistogramConcurrentAndMerge(t *testing.T) {
	s := newShardedHistogram(4)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				s.shard(g).Record(time.Duration(i+1) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	h := s.merged()
	if h.Count() != 8000 || s.count() != 8000 {
		t.Fatalf("count %d", h.Count())
	}
	if h.Min() != time.Microsecond || h.Max() != 1000*time.Microsecond {
		t.Fatalf("min %v max %v", h.Min(), h.Max())
	}
	if p := h.Quantile(0.5); p < 500*time.Microsecond || p > 505*time.Microsecond {
		t.Fatalf("p50 %v", p)
	}
	cdf := h.CDF(50)
	if len(cdf) != 50 || cdf[len(cdf)-1].Fraction != 1 || cdf[len(cdf)-1].Value != h.Max() {
		t.Fatalf("cdf %d points, last %+v", len(cdf), cdf[len(cdf)-1])
	}
	for i := 1; i < len(cdf); i++ {
		if cdf[i].Value < cdf[i-1].Value || cdf[i].Fraction < cdf[i-1].Fraction {
			t.Fatalf("cdf not monotonic at %d", i)
		}
	}
	sum := h.Summary()
	if sum.Count != 8000 || sum.P99Ms < 0.99 || sum.P99Ms > 1.0 {
		t.Fatalf("summary %+v", sum)
	}
}
