package townhall

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	tushandler "github.com/tus/tusd/v2/pkg/handler"
)

// DefaultLockLease is how long a tus lock outlives the last renewal of its holder. A replica
// that dies holds its uploads' locks at most this long.
const DefaultLockLease = 5 * time.Second

// pgLocker is tusd's Locker across replicas: a lock is a row in tus_locks with a lease that its
// holder renews while it serves the upload. A holder that dies stops renewing, so its locks
// are free once the lease has run out; nobody holds an upload forever. A request that wants a
// held lock marks it release_requested; the holder sees the mark at its next renewal and ends
// its request (tusd's requestRelease), as tusd's in-process locker does at once.
type pgLocker struct {
	pool  *pgxpool.Pool
	lease time.Duration
	poll  time.Duration // how often a waiting request tries again
}

func (l *pgLocker) UseIn(c *tushandler.StoreComposer) { c.UseLocker(l) }

func (l *pgLocker) NewLock(id string) (tushandler.Lock, error) {
	return &pgLock{l: l, id: id}, nil
}

type pgLock struct {
	l      *pgLocker
	id     string
	holder string
	stop   chan struct{}
	done   chan struct{}
}

// renewEvery is how often a holder renews its lease and looks for a release request.
func (l *pgLocker) renewEvery() time.Duration { return max(l.lease/4, 20*time.Millisecond) }

// holderPrefix names this process in tus_locks.holder (host/pid/lock), so an operator sees
// which replica holds an upload.
var holderPrefix = func() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/", h, os.Getpid())
}()

func (k *pgLock) Lock(ctx context.Context, requestRelease func()) error {
	k.holder = holderPrefix + uuid.NewString()
	for {
		ok, err := k.tryAcquire(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if ok {
			k.stop, k.done = make(chan struct{}), make(chan struct{})
			go k.renew(requestRelease)
			return nil
		}
		if err == nil {
			// Held by a live request (here or on another replica): ask it to let go.
			_, _ = k.l.pool.Exec(ctx, `UPDATE tus_locks SET release_requested = true WHERE upload_id = $1`, k.id)
		}
		select {
		case <-ctx.Done():
			return tushandler.ErrLockTimeout
		case <-time.After(k.l.poll):
		}
	}
}

// tryAcquire takes the lock if it is free or its lease has run out.
func (k *pgLock) tryAcquire(ctx context.Context) (bool, error) {
	tag, err := k.l.pool.Exec(ctx, `INSERT INTO tus_locks (upload_id, holder, expires_at)
		VALUES ($1, $2, now() + $3 * interval '1 microsecond')
		ON CONFLICT (upload_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, release_requested = false
		WHERE tus_locks.expires_at < now()`, k.id, k.holder, k.l.lease.Microseconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// renew extends the lease until Unlock; a release request, or a lease lost (the database was
// unreachable for longer than the lease), ends the holder's request.
func (k *pgLock) renew(requestRelease func()) {
	defer close(k.done)
	t := time.NewTicker(k.l.renewEvery())
	defer t.Stop()
	var once sync.Once
	release := func() { once.Do(requestRelease) }
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.l.lease/2)
		var wanted bool
		err := k.l.pool.QueryRow(ctx, `UPDATE tus_locks SET expires_at = now() + $3 * interval '1 microsecond'
			WHERE upload_id = $1 AND holder = $2 RETURNING release_requested`, k.id, k.holder, k.l.lease.Microseconds()).Scan(&wanted)
		cancel()
		if err != nil || wanted {
			release()
		}
	}
}

func (k *pgLock) Unlock() error {
	if k.stop != nil {
		close(k.stop)
		<-k.done
		k.stop = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := k.l.pool.Exec(ctx, `DELETE FROM tus_locks WHERE upload_id = $1 AND holder = $2`, k.id, k.holder)
	return err
}
