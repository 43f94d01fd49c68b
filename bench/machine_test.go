package bench

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestWaitForQuiet: it reads until the machine is quiet, and gives up at once when the
// readings cannot be taken.
func TestWaitForQuiet(t *testing.T) {
	readings := []float64{1.7, 0.9, 0.2, 0.1}
	calls := 0
	read := func(context.Context) (float64, bool) {
		calls++
		return readings[calls-1], true
	}
	cores, ok := waitForQuiet(context.Background(), read, time.Hour)
	if !ok || cores != 0.2 || calls != 3 {
		t.Fatalf("got %v, %v after %d readings; want 0.2 after 3", cores, ok, calls)
	}

	calls = 0
	unreadable := func(context.Context) (float64, bool) { calls++; return 0, false }
	if _, ok := waitForQuiet(context.Background(), unreadable, time.Hour); ok || calls != 1 {
		t.Fatalf("unreadable: ok %v after %d readings", ok, calls)
	}

	// A machine that stays busy: the bound ends the wait (a bound of zero: one reading).
	calls = 0
	busy := func(context.Context) (float64, bool) { calls++; return 2, true }
	if cores, ok := waitForQuiet(context.Background(), busy, 0); !ok || cores != 2 || calls != 1 {
		t.Fatalf("busy: %v, %v after %d readings", cores, ok, calls)
	}
}

// TestBusyCores reads this machine: a figure between 0 and its cores.
func TestBusyCores(t *testing.T) {
	cores, ok := busyCores(context.Background(), 50*time.Millisecond)
	if !ok {
		t.Skip("/proc/stat cannot be read here")
	}
	if cores < 0 || cores > float64(runtime.NumCPU())+0.5 {
		t.Fatalf("busy cores %v on a %d-core machine", cores, runtime.NumCPU())
	}
}
