package agent

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memoryTrimmer gives memory back to the system once a burst of work (a 30 MB case sealed or
// sent) is over. The Go runtime keeps a grown heap, and its garbage, until the next collection
// (at most every two minutes when idle) and returns freed pages only slowly after that, so an
// idle agent stayed at several times its idle RSS for minutes. Every interval the trimmer reads
// the heap's size from runtime/metrics (no stop-the-world) and, when it is above limit, runs
// debug.FreeOSMemory: one collection and an immediate return of what is free.
type memoryTrimmer struct {
	log      *slog.Logger
	interval time.Duration // default 5 s
	limit    uint64        // heap bytes (live, garbage and free) that trigger a trim; default 24 MiB
	// heap and free default to the runtime's heap metrics and debug.FreeOSMemory (tests).
	heap func() uint64
	free func()
}

var _ Runner = (*memoryTrimmer)(nil)

// heapMetrics are the heap's classes that are resident unless released.
var heapMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
}

func (m *memoryTrimmer) Run(ctx context.Context) error {
	interval, limit := m.interval, m.limit
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if limit == 0 {
		limit = 24 << 20
	}
	heap, free := m.heap, m.free
	if heap == nil {
		heap = residentHeap
	}
	if free == nil {
		free = debug.FreeOSMemory
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if h := heap(); h > limit {
			free()
			m.log.Debug("memoryTrimmed", "heapBytes", h)
		}
	}
}

// residentHeap is the heap memory that is resident unless released: live objects, garbage
// not yet collected, and free spans not yet returned.
func residentHeap() uint64 {
	samples := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	var sum uint64
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			sum += s.Value.Uint64()
		}
	}
	return sum
}
