package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histSubBits sets the histogram's precision: 2^7 = 128 linear sub-buckets per power of two,
// so a bucket is at most 1/128 (0.8 %) wider than its lower bound.
const (
	histSubBits  = 7
	histSubCount = 1 << histSubBits
	// histMaxValue bounds what is recorded (ns): larger values are clamped. 2^46 ns is 19 hours.
	histMaxValue = int64(1)<<46 - 1
)

var histBuckets = histIndex(histMaxValue) + 1

// histIndex maps v >= 0 to its bucket: values below 256 have their own bucket, larger ones share
// log-linear buckets of width 2^e.
func histIndex(v int64) int {
	e := max(bits.Len64(uint64(v))-(histSubBits+1), 0)
	return e*histSubCount + int(v>>e)
}

// histBounds is the lowest value and width of bucket i.
func histBounds(i int) (low, width int64) {
	if i < 2*histSubCount {
		return int64(i), 1
	}
	e := i/histSubCount - 1
	m := int64(i - e*histSubCount)
	return m << e, int64(1) << e
}

// Histogram records durations in log-linear buckets with lock-free counters: safe for concurrent
// Record, with quantiles exact to within 0.8 %. Its memory is fixed (~45 KB) however many values
// it holds.
type Histogram struct {
	counts []atomic.Int64
	n      atomic.Int64
	sum    atomic.Int64
	min    atomic.Int64
	max    atomic.Int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{counts: make([]atomic.Int64, histBuckets)}
	h.min.Store(math.MaxInt64)
	return h
}

// Record adds one duration; negative values count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := min(max(int64(d), 0), histMaxValue)
	h.counts[histIndex(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		cur := h.min.Load()
		if v >= cur || h.min.CompareAndSwap(cur, v) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if v <= cur || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

// Merge adds other's values to h.
func (h *Histogram) Merge(other *Histogram) {
	if other == nil || other.n.Load() == 0 {
		return
	}
	for i := range other.counts {
		if c := other.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(other.n.Load())
	h.sum.Add(other.sum.Load())
	if v := other.min.Load(); v < h.min.Load() {
		h.min.Store(v)
	}
	if v := other.max.Load(); v > h.max.Load() {
		h.max.Store(v)
	}
}

// Count is how many values were recorded.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Min and Max are the exact extremes (0 when empty).
func (h *Histogram) Min() time.Duration {
	if h.n.Load() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the exact mean (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile is the smallest recorded value v such that a fraction q of the values are <= v, to
// within the bucket precision: the upper end of the bucket holding that rank, clamped to the
// exact min and max. q <= 0 gives Min, q >= 1 gives Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	if q <= 0 {
		return h.Min()
	}
	if q >= 1 {
		return h.Max()
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			low, width := histBounds(i)
			v := low + width - 1
			return time.Duration(min(max(v, h.min.Load()), h.max.Load()))
		}
	}
	return h.Max()
}

// CDFPoint is one step of a cumulative distribution: Fraction of the values are <= Value.
type CDFPoint struct {
	Value    time.Duration `json:"-"`
	ValueMs  float64       `json:"ms"`
	Fraction float64       `json:"fraction"`
}

// CDF returns the cumulative distribution, one point per non-empty bucket (at the bucket's upper
// end, clamped to the exact max), thinned to at most maxPoints when maxPoints > 0 (the last
// point, fraction 1, is always kept).
func (h *Histogram) CDF(maxPoints int) []CDFPoint {
	n := h.n.Load()
	if n == 0 {
		return nil
	}
	var pts []CDFPoint
	var seen int64
	for i := range h.counts {
		c := h.counts[i].Load()
		if c == 0 {
			continue
		}
		seen += c
		low, width := histBounds(i)
		v := time.Duration(min(low+width-1, h.max.Load()))
		pts = append(pts, CDFPoint{Value: v, ValueMs: ms(v), Fraction: float64(seen) / float64(n)})
	}
	if maxPoints > 0 && len(pts) > maxPoints {
		thin := make([]CDFPoint, 0, maxPoints)
		step := float64(len(pts)-1) / float64(maxPoints-1)
		for i := range maxPoints - 1 {
			thin = append(thin, pts[int(float64(i)*step)])
		}
		pts = append(thin, pts[len(pts)-1])
	}
	return pts
}

// LatencySummary is a histogram's summary in milliseconds, for tables and JSON.
type LatencySummary struct {
	Count  int64      `json:"count"`
	MinMs  float64    `json:"min_ms"`
	MeanMs float64    `json:"mean_ms"`
	P50Ms  float64    `json:"p50_ms"`
	P90Ms  float64    `json:"p90_ms"`
	P99Ms  float64    `json:"p99_ms"`
	P999Ms float64    `json:"p999_ms"`
	MaxMs  float64    `json:"max_ms"`
	CDF    []CDFPoint `json:"cdf,omitempty"`
}

// Summary summarises h, with a CDF of up to 200 points for re-plotting.
func (h *Histogram) Summary() LatencySummary {
	return LatencySummary{
		Count: h.Count(), MinMs: ms(h.Min()), MeanMs: ms(h.Mean()),
		P50Ms: ms(h.Quantile(0.50)), P90Ms: ms(h.Quantile(0.90)), P99Ms: ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)), MaxMs: ms(h.Max()), CDF: h.CDF(200),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// shardedHistogram spreads concurrent recorders over several histograms so that thousands of
// reader goroutines do not all hit the same cache lines; Merged folds them into one.
type shardedHistogram struct{ shards []*Histogram }

func newShardedHistogram(n int) *shardedHistogram {
	s := &shardedHistogram{shards: make([]*Histogram, n)}
	for i := range s.shards {
		s.shards[i] = NewHistogram()
	}
	return s
}

func (s *shardedHistogram) shard(i int) *Histogram { return s.shards[i%len(s.shards)] }

func (s *shardedHistogram) count() int64 {
	var n int64
	for _, h := range s.shards {
		n += h.Count()
	}
	return n
}

func (s *shardedHistogram) merged() *Histogram {
	h := NewHistogram()
	for _, sh := range s.shards {
		h.Merge(sh)
	}
	return h
}
