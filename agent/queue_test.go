package agent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/store"
	"koffer/sync/receipt"
)

// TestQueueReportCountsOnly: the report the kit sends with its audit requests holds the
// outbox's counts and age in whole seconds, never the oldest case's id, and is one the town
// hall accepts.
func TestQueueReportCountsOnly(t *testing.T) {
	tests := []struct {
		name string
		st   store.QueueStats
		want receipt.QueueReport
	}{
		{name: "empty", st: store.QueueStats{Delivered: 9}, want: receipt.QueueReport{}},
		{name: "waiting", st: store.QueueStats{Depth: 3, Parked: 1, Bytes: 4096, OldestAge: 90*time.Minute + 400*time.Millisecond, OldestCaseID: "c-1"},
			want: receipt.QueueReport{Depth: 3, OldestAgeSeconds: 5400, Parked: 1}},
		{name: "clock stepped back", st: store.QueueStats{Depth: 1, OldestAge: -time.Hour}, want: receipt.QueueReport{Depth: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := receiptQueue(tt.st)
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got.String(), "c-1")
			_, err := receipt.ParseQueueReport(got.String())
			assert.NoError(t, err)
		})
	}
	s, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	got, err := queue{s}.QueueReport(t.Context())
	require.NoError(t, err)
	assert.Equal(t, receipt.QueueReport{}, got, "a fresh kit has nothing waiting")
}
