package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Returning memory to the OS. After a burst of sockets that then leave (an attack, a reconnect
// storm, a big room emptying), their memory is garbage that a quiet process may not collect for
// minutes (no allocation triggers a GC), and Go's scavenger then gives it back slowly. So every
// memoryCheck herald looks at two signs and, on either, collects and returns the memory at once
// (debug.FreeOSMemory: a GC and a full scavenge, a few ms):
//   - the open sockets fell by a quarter and by at least memorySocketsDrop from their peak
//     since the last return;
//   - more than memoryFreeMin of collected heap is still held, more than the heap in use.
const (
	memoryCheck        = 15 * time.Second
	memorySocketsDrop  = 256
	memoryFreeMin      = 32 << 20
	memorySocketsShare = 4 // a quarter
)

// returnMemory runs until ctx ends; sockets tells how many sockets the node holds now, and the
// most it held since the last call.
func returnMemory(ctx context.Context, log *slog.Logger, sockets func() (now, peak int)) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},    // collected, not yet returned
		{Name: "/memory/classes/heap/objects:bytes"}, // in use (and garbage not yet collected)
	}
	tick := time.NewTicker(memoryCheck)
	defer tick.Stop()
	peak := 0 // since the last return
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now, recent := sockets()
		peak = max(peak, recent)
		metrics.Read(samples)
		free, inUse := samples[0].Value.Uint64(), samples[1].Value.Uint64()
		dropped := peak - now
		if (dropped >= memorySocketsDrop && dropped*memorySocketsShare >= peak) || (free > memoryFreeMin && free > inUse) {
			debug.FreeOSMemory()
			log.Debug("returned freed memory to the OS", "sockets", now, "sockets_peak", peak, "heap_free", free, "heap_in_use", inUse)
			peak = now
		}
	}
}
