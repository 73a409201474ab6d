package uplink_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/receipt"
	"koffer/sync/townhall"
	"koffer/sync/uplink"
)

// fixedQueue is a test QueueSource: the report set last, or err.
type fixedQueue struct {
	mu  sync.Mutex
	r   receipt.QueueReport
	err error
}

func (q *fixedQueue) set(r receipt.QueueReport) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.r = r
}

func (q *fixedQueue) QueueReport(context.Context) (receipt.QueueReport, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.r, q.err
}

// fleetKit is kit-1 as the real town hall's fleet view has it.
func fleetKit(t *testing.T, th *townhall.Townhall) townhall.KitStatus {
	t.Helper()
	fleet, err := th.Fleet(context.Background())
	require.NoError(t, err)
	require.Len(t, fleet, 1)
	return fleet[0]
}

// TestQueueReportedWithAudit: the kit's outbox counts reach the town hall's fleet with the
// audit exchange, and a later exchange replaces them (also when no new entry goes up).
func TestQueueReportedWithAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log := &chainLog{}
	log.add(3)
	q := &fixedQueue{r: receipt.QueueReport{Depth: 2, OldestAgeSeconds: 3600, Parked: 1}}
	u := e.uplink(func(o *uplink.Options) { o.Audit = log; o.Queue = q; o.VisitInterval = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	th := e.townhall()
	waitFor(t, func() bool { return fleetKit(t, th).QueueDepth == 2 })
	k := fleetKit(t, th)
	assert.Equal(t, 1, k.Parked)
	assert.WithinDuration(t, time.Now().Add(-time.Hour), k.OldestWaiting, time.Minute)

	q.set(receipt.QueueReport{})
	u.Kick() // no new audit entry: the GET of the exchange carries the report
	waitFor(t, func() bool { return fleetKit(t, th).QueueDepth == 0 })
	k = fleetKit(t, th)
	assert.Zero(t, k.Parked)
	assert.True(t, k.OldestWaiting.IsZero())
	cancel()
	require.NoError(t, <-done)
}

// TestAuditGoesUpWithoutQueueReport: when the outbox cannot be counted, the audit log still
// goes up and the fleet keeps the queue unknown.
func TestAuditGoesUpWithoutQueueReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log := &chainLog{}
	log.add(5)
	q := &fixedQueue{err: errors.New("database is locked")}
	u := e.uplink(func(o *uplink.Options) { o.Audit = log; o.Queue = q; o.VisitInterval = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	th := e.townhall()
	waitFor(t, func() bool {
		got, err := th.AuditLog(context.Background(), "kit-1")
		require.NoError(t, err)
		return len(got) == 5
	})
	cancel()
	require.NoError(t, <-done)
	assert.True(t, fleetKit(t, th).QueueReportedAt.IsZero())
}
