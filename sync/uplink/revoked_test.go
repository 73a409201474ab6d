package uplink_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/receipt"
	"koffer/sync/uplink"
)

// TestRevokedKitStopsSending: once the real town hall answers that the kit is revoked, the
// uplink parks the refused packet with code revoked, tells the kit once and sends nothing more
// by itself: at most the packet already in flight (the sender overlaps cases) is refused too. A
// kick makes one refused pass; after the
// administrator allows what was sealed before the revocation and the packets are unparked, a
// kick delivers exactly those.
func TestRevokedKitStopsSending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var requests atomic.Int64
	e.stopTownhall()
	e.wrap = func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			h.ServeHTTP(w, r)
		})
	}
	e.startTownhall()
	e.seal(1, 10, 10)
	e.drain(e.uplink(nil), 30*time.Second)

	held := e.seal(2, 10, 10)
	require.NoError(t, e.townhall().RevokeKit(t.Context(), e.bundle.KitID, "test", "gestohlen"))
	var told atomic.Int64
	u := e.uplink(func(o *uplink.Options) {
		o.VisitInterval = 50 * time.Millisecond
		o.Revoked = func(context.Context, time.Time) { told.Add(1) }
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	defer func() { cancel(); <-done }()

	require.Eventually(t, func() bool { return !u.State().RevokedAt.IsZero() }, 10*time.Second, 10*time.Millisecond)
	before := requests.Load()
	time.Sleep(time.Second) // twenty visit intervals and many backoffs: a loop would show here
	assert.Equal(t, before, requests.Load(), "a revoked kit sends nothing by itself")
	assert.EqualValues(t, 1, told.Load(), "the kit is told once")
	st := u.State()
	assert.Equal(t, receipt.CodeRevoked, st.LastError)
	assert.Equal(t, receipt.CodeRevoked, e.outbox.item(held[0]).parked, "the refused packet is parked, not dropped")
	// The sender overlaps cases: the next packet may have been on the wire before the answer
	// came. Then it is refused and parked too; nothing after the answer is tried.
	if e.outbox.pending() == 0 {
		assert.Equal(t, receipt.CodeRevoked, e.outbox.item(held[1]).parked, "the packet in flight is parked as well")
	} else {
		assert.Equal(t, 1, e.outbox.pending(), "the next packet was not even tried")
	}

	// A technician's kick: one pass, refused, and silent again.
	u.Kick()
	require.Eventually(t, func() bool { return e.outbox.item(held[1]).parked != "" }, 10*time.Second, 10*time.Millisecond)
	after := requests.Load()
	time.Sleep(700 * time.Millisecond)
	assert.Equal(t, after, requests.Load(), "one pass per kick")
	assert.EqualValues(t, 1, told.Load())
	assert.Equal(t, receipt.CodeRevoked, e.outbox.item(held[1]).parked)

	// The administrator lets the kit deliver what it sealed before; unparked and kicked, it goes.
	require.NoError(t, e.townhall().AllowSealedBeforeRevocation(t.Context(), e.bundle.KitID, "test"))
	for _, id := range held {
		e.outbox.unpark(id)
	}
	u.Kick()
	require.Eventually(t, func() bool { return e.outbox.pending() == 0 }, 20*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	done <- nil
	e.verify(nil)
}

func (o *memOutbox) item(caseID string) memItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	return *o.items[caseID]
}

func (o *memOutbox) unpark(caseID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items[caseID].parked = ""
}
