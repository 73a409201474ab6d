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
