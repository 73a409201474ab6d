package uplink_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/uplink"
)

// garbageWhile answers every request with a 200 that is not tus (what a TLS server that is not
// a town hall may send) while bad is set, and passes requests on after.
func garbageWhile(bad *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !bad.Load() {
				next.ServeHTTP(w, r)
				return
			}
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Upload-Offset", "banana")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("<html>welcome</html>"))
		})
	}
}

// newGarbageEnv is an env whose town hall answers garbage while the returned flag is set (it
// starts set).
func newGarbageEnv(t *testing.T) (*env, *atomic.Bool) {
	e := newEnv(t)
	bad := &atomic.Bool{}
	bad.Store(true)
	e.stopTownhall()
	e.wrap = garbageWhile(bad)
	e.startTownhall()
	return e, bad
}

// runUplink runs u until stop is called (or the test ends) and checks it ended cleanly.
func runUplink(t *testing.T, u *uplink.Uplink) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); require.NoError(t, <-done) }) }
	t.Cleanup(stop)
	return stop
}

func failures(o *memOutbox) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, f := range o.failures {
		n += len(f)
	}
	return n
}

// TestProbesDoNotRaiseBackoff: while the town hall cannot be reached, the sender probes with
// the oldest case, and those probes are not attempts. When the link returns with one bad
// answer, the case waits one step of backoff, not the cap, and is delivered.
func TestProbesDoNotRaiseBackoff(t *testing.T) {
	t.Parallel()
	e, bad := newGarbageEnv(t)
	e.seal(1, 10, 10)
	e.proxy.Stop()
	// After 8 raised attempts the backoff would be 128 × base, far beyond the test's wait.
	u := e.uplink(func(o *uplink.Options) { o.BackoffBase, o.BackoffMax = 200*time.Millisecond, time.Hour })
	stop := runUplink(t, u)

	waitFor(t, func() bool { return u.State().Errors >= 8 })
	assert.Zero(t, failures(e.outbox), "probes are not attempts")
	for _, it := range e.outbox.snapshot() {
		assert.Zero(t, it.Attempts, "ATTEMPTS counts real attempts only")
	}

	// The link returns, but the first answer is garbage.
	require.NoError(t, e.proxy.Start())
	waitFor(t, func() bool { return failures(e.outbox) >= 1 })
	bad.Store(false)
	start := time.Now()
	waitFor(t, func() bool { return e.outbox.pending() == 0 })
	assert.Less(t, time.Since(start), 5*time.Second, "one step of backoff after the bad answer")
	assert.Equal(t, 1, failures(e.outbox), "the bad answer was the only attempt that failed")
	for _, f := range e.outbox.failures {
		assert.NotContains(t, f[0], "network", "a wrong answer is not labelled a network error")
	}
	stop()
	e.verify(nil)
}

// TestSyncNowTriesBackedOffCases: `koffer sync` means "try every waiting case now". Cases in a
// long backoff after bad answers are sent at once when SyncNow is called.
func TestSyncNowTriesBackedOffCases(t *testing.T) {
	t.Parallel()
	e, bad := newGarbageEnv(t)
	e.seal(3, 10, 10)
	u := e.uplink(func(o *uplink.Options) {
		o.BackoffBase, o.BackoffMax, o.VisitInterval = time.Hour, time.Hour, time.Hour
	})
	stop := runUplink(t, u)

	waitFor(t, func() bool { return len(e.outbox.snapshot()) == 3 && failures(e.outbox) == 3 })
	bad.Store(false)
	for _, it := range e.outbox.snapshot() {
		require.True(t, it.NextAttemptAt.After(time.Now().Add(20*time.Minute)), "each case backed off for at least half an hour")
	}
	require.Equal(t, 3, e.outbox.pending())

	require.NoError(t, u.SyncNow(context.Background()))
	start := time.Now()
	waitFor(t, func() bool { return e.outbox.pending() == 0 })
	assert.Less(t, time.Since(start), 10*time.Second)
	stop()
	e.verify(nil)
}
