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
// uplink tells the kit once, leaves the outbox as it is (nothing parked, no failure counted)
// and sends nothing more by itself. A kick makes one refused pass; after the administrator
// allows what was sealed before the revocation, a kick delivers exactly that.
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
	delivered := e.seal(1, 10, 10)
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
	defer func() { cancel(); require.NoError(t, <-done) }()

	require.Eventually(t, func() bool { return !u.State().RevokedAt.IsZero() }, 10*time.Second, 10*time.Millisecond)
	before := requests.Load()
	time.Sleep(time.Second) // ten visit intervals and many backoffs: a loop would show here
	assert.Equal(t, before, requests.Load(), "a revoked kit sends nothing by itself")
	assert.EqualValues(t, 1, told.Load(), "the kit is told once")
	st := u.State()
	assert.Equal(t, receipt.CodeRevoked, st.LastError)
	assert.Equal(t, 2, e.outbox.pending(), "the sealed packets stay queued, not parked")
	assert.Empty(t, e.outbox.failures[held[0]], "no failure counted: no backoff to run out")

	// A technician's kick: one pass, refused, and silent again.
	u.Kick()
	require.Eventually(t, func() bool { return requests.Load() > before }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	after := requests.Load()
	time.Sleep(700 * time.Millisecond)
	assert.Equal(t, after, requests.Load(), "one pass per kick")
	assert.EqualValues(t, 1, told.Load())
	assert.Equal(t, 2, e.outbox.pending())

	// The administrator lets the kit deliver what it sealed before: the next kick sends it.
	require.NoError(t, e.townhall().AllowSealedBeforeRevocation(t.Context(), e.bundle.KitID, "test"))
	u.Kick()
	require.Eventually(t, func() bool { return e.outbox.pending() == 0 }, 20*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	done <- nil
	e.verify(nil)
	assert.Len(t, delivered, 1)
}
