package agent

import (
	"context"
	"time"
)

// checkStoreAtStart runs the store's quick check once when the agent starts. A damaged
// database does not stop the agent (sealed packets may still be delivered, the technician can
// look with status and doctor), but it takes no new cases until a technician has restored it:
// more cases written into a damaged file are more cases at risk.
func (a *Agent) checkStoreAtStart(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.store.QuickCheck(ctx); err != nil {
		a.damaged = err
		a.log.Error("databaseDamaged", "err", err)
	}
}

// damagedErr is what the start-up check found (casework.Options.Damaged).
func (a *Agent) damagedErr() error { return a.damaged }
