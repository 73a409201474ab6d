package agent

import (
	"context"
	"time"

	"koffer/agent/localapi"
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

// refuseIfDamaged is the refusal of new cases on a damaged database.
func (a *Agent) refuseIfDamaged() error {
	if a.damaged == nil {
		return nil
	}
	return &localapi.Error{Code: "database-damaged",
		Message: "the kit's database is damaged (quick check at start failed): no new cases; run koffer doctor and call a technician"}
}
