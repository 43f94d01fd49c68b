package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Returning memory to the OS. After a burst of sockets that then leave (an attack, a reconnect
// storm, a big room emptying), their memory is garbage that a quiet process may not collect for
// minutes (no allocation triggers a GC), and Go's scavenger then gives it back slowly. So every
// memoryCheck herald looks at three signs and, on any, collects and returns the memory at once
// (debug.FreeOSMemory: a GC and a full scavenge, a few ms):
//   - the open sockets fell by a quarter and by at least memorySocketsStep from their peak
//     since the last return;
//   - more than memoryFreeMin of collected heap is still held, more than the heap in use;
//   - the open sockets grew by at least memorySocketsStep and then held still for a check: each
//     new socket's read goroutine grew its stack while it upgraded and subscribed, and only a GC
//     shrinks the stack of an idle goroutine (by half each time: two GCs then).
const (
	memoryCheck        = 15 * time.Second
	memorySocketsStep  = 256
	memoryFreeMin      = 32 << 20
	memorySocketsShare = 4 // a quarter
)

// memoryWatch decides, at each check, whether to collect and return memory.
type memoryWatch struct {
	peak    int  // most sockets since the last return
	last    int  // sockets at the last check
	growing bool // sockets grew by memorySocketsStep or more since they last held still
}

// check takes the sockets now and the most since the previous check, and the heap's collected
// and in-use bytes. settle: the sockets grew and now hold still (collect twice to shrink their
// stacks); release: return memory.
func (m *memoryWatch) check(now, recent int, free, inUse uint64) (settle, release bool) {
	m.peak = max(m.peak, recent)
	if now-m.last >= memorySocketsStep {
		m.growing = true
	} else if m.growing && now-m.last < memorySocketsStep/4 {
		m.growing, settle = false, true
	}
	m.last = now
	dropped := m.peak - now
	release = settle || (dropped >= memorySocketsStep && dropped*memorySocketsShare >= m.peak) ||
		(free > memoryFreeMin && free > inUse)
	if release {
		m.peak = now
	}
	return settle, release
}

// returnMemory runs until ctx ends; sockets tells how many sockets the node holds now, and the
// most it held since the last call.
func returnMemory(ctx context.Context, log *slog.Logger, sockets func() (now, peak int)) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},    // collected, not yet returned
		{Name: "/memory/classes/heap/objects:bytes"}, // in use (and garbage not yet collected)
	}
	tick := time.NewTicker(memoryCheck)
	defer tick.Stop()
	var watch memoryWatch
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now, recent := sockets()
		metrics.Read(samples)
		free, inUse := samples[0].Value.Uint64(), samples[1].Value.Uint64()
		settle, release := watch.check(now, recent, free, inUse)
		if settle {
			runtime.GC() // the first halving of the idle stacks; FreeOSMemory's GC is the second
		}
		if release {
			debug.FreeOSMemory()
			log.Debug("returned freed memory to the OS", "sockets", now, "sockets_peak", recent, "heap_free", free, "heap_in_use", inUse)
		}
	}
}
