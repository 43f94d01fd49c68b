package bench

import (
	"context"
	"fmt"
	"time"
)

// Compare runs scenario against every target, alternating them for rounds rounds (so that
// drifting machine load hits all alike), with settle between runs for the servers to release
// what the last run held, and then up to quietMaxWait for the machine to be quiet. Each target's rounds are merged into one result; the first target is
// the one the ratios compare with the others.
func Compare(ctx context.Context, scenario string, targets []Target, cfg Config, rounds int, settle time.Duration, logf func(string, ...any)) ([]*Result, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("bench: compare needs at least one target")
	}
	rounds = max(rounds, 1)
	per := make([][]*Result, len(targets))
	for round := range rounds {
		for i, t := range targets {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if round > 0 || i > 0 {
				select {
				case <-time.After(settle):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			// Then until the machine has let go of the run before (bounded: a machine that
			// stays busy is reported and measured as it is).
			busy, ok := waitForQuiet(ctx, func(ctx context.Context) (float64, bool) { return busyCores(ctx, busyWindow) }, quietMaxWait)
			if ok && busy >= quietBusyCores {
				logf("the machine is still busy (%.2f cores) after %v; measuring anyway", busy, quietMaxWait)
			}
			logf("round %d/%d: %s against %s", round+1, rounds, scenario, t.Name)
			res, err := Run(ctx, scenario, t, cfg)
			if err != nil {
				return nil, fmt.Errorf("bench: %s against %s: %w", scenario, t.Name, err)
			}
			logf("  %s", res.OneLine())
			per[i] = append(per[i], res)
		}
	}
	out := make([]*Result, len(targets))
	for i := range targets {
		out[i] = mergeResults(per[i])
	}
	return out, nil
}

// quietMaxWait bounds the wait for a quiet machine before each run.
const quietMaxWait = 30 * time.Second

// OneLine summarises a result for the log.
func (r *Result) OneLine() string {
	s := fmt.Sprintf("%s (load %.1f): %d conns", r.Target, r.LoadAvg, r.Connections)
	if r.Offered > 0 {
		s += fmt.Sprintf(", %d/%d delivered (%.2f%%), %.0f/s", r.Delivered, r.Offered, 100*float64(r.Delivered)/float64(r.Offered), r.DeliveryRate)
	}
	if r.PerCPUSecond > 0 {
		s += fmt.Sprintf(", %.0f per server CPU-s", r.PerCPUSecond)
	}
	if l, ok := r.Latencies[r.Primary]; ok {
		s += fmt.Sprintf(", %s p50 %.2f ms p99 %.2f ms max %.2f ms", r.Primary, l.P50Ms, l.P99Ms, l.MaxMs)
	}
	if r.MemPerConn != 0 {
		s += fmt.Sprintf(", %.2f KB RSS per connection", r.MemPerConn/1024)
	}
	if r.Lost > 0 || r.Duplicated > 0 {
		s += fmt.Sprintf(", LOST %d DUPLICATED %d", r.Lost, r.Duplicated)
	}
	return s
}

// mergeResults folds several rounds against one target into one result: counts and CPU
// seconds add up, latencies merge, rates are recomputed over the summed time and memory figures
// are averaged.
func mergeResults(rs []*Result) *Result {
	if len(rs) == 1 {
		return rs[0]
	}
	m := *rs[0]
	m.hists, m.Latencies, m.Extra, m.Notes = nil, nil, nil, nil
	m.Connections, m.ConnectErrors, m.Subscribed, m.SubscribeErrors, m.Disconnects, m.PusherErrors = 0, 0, 0, 0, 0, 0
	m.Sent, m.SendErrors, m.SendRequests, m.Offered, m.Delivered, m.Lost, m.Duplicated, m.Reordered, m.Unexpected = 0, 0, 0, 0, 0, 0, 0, 0, 0
	m.Elapsed, m.ServerCPU, m.ClientCPU, m.MemPerConn = 0, 0, 0, 0
	var offeredTime float64
	hists := map[string]*Histogram{}
	extras := map[string]float64{}
	for _, r := range rs {
		m.Connections += r.Connections
		m.ConnectErrors += r.ConnectErrors
		m.Subscribed += r.Subscribed
		m.SubscribeErrors += r.SubscribeErrors
		m.Disconnects += r.Disconnects
		m.PusherErrors += r.PusherErrors
		m.Sent += r.Sent
		m.SendErrors += r.SendErrors
		m.SendRequests += r.SendRequests
		m.Offered += r.Offered
		m.Delivered += r.Delivered
		m.Lost += r.Lost
		m.Duplicated += r.Duplicated
		m.Reordered += r.Reordered
		m.Unexpected += r.Unexpected
		m.Elapsed += r.Elapsed
		m.ServerCPU += r.ServerCPU
		m.ClientCPU += r.ClientCPU
		m.MemPerConn += r.MemPerConn / float64(len(rs))
		if r.OfferedRate > 0 {
			offeredTime += float64(r.Offered) / r.OfferedRate
		}
		for name, h := range r.hists {
			if hists[name] == nil {
				hists[name] = NewHistogram()
			}
			hists[name].Merge(h)
		}
		for k, v := range r.Extra {
			extras[k] += v / float64(len(rs))
		}
		for _, n := range r.Notes {
			m.Notes = append(m.Notes, n)
		}
		m.ServerAfter = r.ServerAfter
	}
	for name, h := range hists {
		m.setHist(name, h)
	}
	m.Extra = extras
	if m.Elapsed > 0 {
		m.DeliveryRate = float64(m.Delivered) / m.Elapsed
	}
	if offeredTime > 0 {
		m.OfferedRate = float64(m.Offered) / offeredTime
	}
	m.PerCPUSecond = 0
	if m.ServerCPU > 0 && rs[0].PerCPUSecond > 0 {
		m.PerCPUSecond = float64(m.Delivered) / m.ServerCPU
	}
	m.note("merged from %d rounds (extras are means)", len(rs))
	return &m
}
