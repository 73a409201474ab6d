package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWatchdogFedOnlyWhileAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var fed atomic.Int32
		var sick atomic.Bool
		alive := func(context.Context) error {
			if sick.Load() {
				return errors.New("store does not answer")
			}
			return nil
		}
		done := make(chan struct{})
		go func() {
			watchdog(ctx, 5*time.Second, alive, func() error { fed.Add(1); return nil }, slog.New(slog.DiscardHandler))
			close(done)
		}()
		time.Sleep(16 * time.Second)
		synctest.Wait()
		assert.Equal(t, int32(3), fed.Load(), "fed every period while alive")
		sick.Store(true)
		time.Sleep(20 * time.Second)
		synctest.Wait()
		assert.Equal(t, int32(3), fed.Load(), "not fed while the store hangs: systemd restarts the agent")
		cancel()
		<-done
	})
}

// TestServeFeedsWatchdog runs Serve under a fake systemd with WatchdogSec=200ms: after
// READY=1 the agent sends WATCHDOG=1 on its own.
func TestServeFeedsWatchdog(t *testing.T) {
	a := newTestAgent(t, Options{})
	read := fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "200000")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	assert.Equal(t, []string{"READY=1", "WATCHDOG=1", "WATCHDOG=1"}, []string{read(), read(), read()})
	cancel()
	require.NoError(t, <-done)
}
