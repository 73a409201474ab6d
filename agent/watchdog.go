package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// feedWatchdog sends WATCHDOG=1 to systemd at half the unit's WatchdogSec while the store
// still answers, so a hung agent (a stuck database, a deadlock) is restarted by systemd.
// Without WATCHDOG_USEC (not under systemd, or no WatchdogSec) it returns at once.
func (a *Agent) feedWatchdog(ctx context.Context) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	alive := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, interval/2)
		defer cancel()
		_, err := a.store.QueueStats(ctx)
		return err
	}
	notify := func() error {
		_, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		return err
	}
	watchdog(ctx, interval/2, alive, notify, a.log)
}

// watchdog calls notify every period for as long as alive succeeds, until ctx ends.
func watchdog(ctx context.Context, period time.Duration, alive func(context.Context) error, notify func() error, log *slog.Logger) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := alive(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn("watchdogNotFed", "err", err)
			}
			continue
		}
		if err := notify(); err != nil {
			log.Warn("sdNotifyFailed", "err", err)
		}
	}
}
