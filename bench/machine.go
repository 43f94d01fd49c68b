package bench

import (
	"context"
	"time"

	"github.com/prometheus/procfs"
)

// A run measures best on a machine that has let go of the run before it: the last server's
// exit, its clients' closes and the GC they leave behind. The 1-minute load average
// (Result.LoadAvg) lags a minute behind, so it mostly shows the run before; how many cores the
// machine keeps busy over a short window shows the present.

// quietBusyCores is how busy the machine may be for a run to start without waiting, in cores.
const quietBusyCores = 0.3

// busyWindow is how long one reading of the machine's busy cores takes.
const busyWindow = 500 * time.Millisecond

// busyCores is how many cores the whole machine kept busy (not idle, not waiting for I/O) over
// window, from /proc/stat; ok is false where it cannot be read.
func busyCores(ctx context.Context, window time.Duration) (cores float64, ok bool) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, false
	}
	busy := func() (float64, bool) {
		st, err := fs.Stat()
		if err != nil {
			return 0, false
		}
		c := st.CPUTotal
		return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal, true
	}
	before, ok := busy()
	if !ok {
		return 0, false
	}
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return 0, false
	}
	after, ok := busy()
	if !ok {
		return 0, false
	}
	return (after - before) / window.Seconds(), true
}

// waitForQuiet reads the machine's busy cores until they fall below quietBusyCores or
// maxWait has passed, and returns the last reading (ok false: none could be taken). read is
// busyCores in a run, a fake in tests.
func waitForQuiet(ctx context.Context, read func(context.Context) (float64, bool), maxWait time.Duration) (cores float64, ok bool) {
	deadline := time.Now().Add(maxWait)
	for {
		cores, ok = read(ctx)
		if !ok || cores < quietBusyCores || !time.Now().Before(deadline) || ctx.Err() != nil {
			return cores, ok
		}
	}
}
