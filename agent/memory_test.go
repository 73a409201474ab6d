package agent

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestMemoryTrimmer: the trimmer frees memory when the resident heap is above its limit, and
// leaves an idle agent alone below it. (What that does to the RSS of a real agent after twenty
// 30 MB cases is BenchmarkRSSAfterLargeCases in cmd/koffer.)
func TestMemoryTrimmer(t *testing.T) {
	for _, tt := range []struct {
		name string
		heap uint64
		want bool
	}{
		{name: "after a burst", heap: 200 << 20, want: true},
		{name: "idle", heap: 10 << 20, want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var freed atomic.Int64
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			m := &memoryTrimmer{log: slog.New(slog.DiscardHandler), interval: 10 * time.Millisecond, limit: 24 << 20,
				heap: func() uint64 { return tt.heap }, free: func() { freed.Add(1) }}
			assert.NoError(t, m.Run(ctx))
			assert.Equal(t, tt.want, freed.Load() > 0)
		})
	}
	assert.Positive(t, residentHeap(), "the runtime metrics are read")
}
