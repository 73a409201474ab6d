package townhall

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
	"koffer/sync/townhall/thtest"
)

func TestLockLease(t *testing.T) {
	dsn, err := thtest.Postgres(t)
	if errors.Is(err, thtest.ErrMissing) {
		peer.Missing(t, err.Error())
	}
	require.NoError(t, err)
	pg, err := openPostgres(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	const lease = 600 * time.Millisecond
	replica := func() *pgLocker { return &pgLocker{pool: pg.pool, lease: lease, poll: 20 * time.Millisecond} }
	a, b, c := replica(), replica(), replica()

	// A live holder is asked to let go when another replica wants the upload.
	la, err := a.NewLock("u1")
	require.NoError(t, err)
	released := make(chan struct{})
	require.NoError(t, la.Lock(t.Context(), func() { close(released) }))
	lb, err := b.NewLock("u1")
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		errc <- lb.Lock(ctx, func() {})
	}()
	select {
	case <-released:
	case <-time.After(3 * time.Second):
		t.Fatal("the holder was not asked to release")
	}
	require.NoError(t, la.Unlock())
	require.NoError(t, <-errc, "the other replica gets the lock once it is let go")

	// Its replica dies: the renewals stop and nothing unlocks. The lock is free once the
	// lease has run out, not before.
	dead := lb.(*pgLock)
	close(dead.stop)
	<-dead.done
	died := time.Now()
	lc, err := c.NewLock("u1")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, lc.Lock(ctx, func() {}))
	waited := time.Since(died)
	assert.Less(t, waited, lease+500*time.Millisecond, "free within the lease")
	assert.Greater(t, waited, lease-a.renewEvery()-100*time.Millisecond, "not free while the lease runs")
	require.NoError(t, lc.Unlock())

	var held int
	require.NoError(t, pg.pool.QueryRow(t.Context(), `SELECT count(*) FROM tus_locks`).Scan(&held))
	assert.Zero(t, held, "an unlocked upload leaves no row")

	// A lock nobody releases times out as tusd expects.
	ld, _ := a.NewLock("u2")
	require.NoError(t, ld.Lock(t.Context(), func() {}))
	le, _ := b.NewLock("u2")
	short, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel2()
	assert.Error(t, le.Lock(short, func() {}))
	require.NoError(t, ld.Unlock())
}
