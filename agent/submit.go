package agent

import (
	"context"
	"time"

	"koffer/agent/localapi"
)

// Submit validates a complete case from the CLI and seals it (casework.Core.Submit).
func (a *Agent) Submit(ctx context.Context, req localapi.SubmitRequest) (localapi.SubmitResponse, error) {
	return a.core.Submit(ctx, req)
}

// Status reports the kit and its queue.
func (a *Agent) Status(ctx context.Context) (localapi.Status, error) {
	qs, err := a.store.QueueStats(ctx)
	if err != nil {
		return localapi.Status{}, err
	}
	mode := "live"
	if a.opts.Training {
		mode = "training"
	}
	unlocked := a.sessions.Held()
	st := localapi.Status{
		KitID: a.kit.Bundle.KitID, Mode: mode, Version: a.opts.Version, Started: a.started,
		TownHall: a.kit.Bundle.URL, Unlocked: unlocked, Uptime: a.now().Sub(a.started), DataDir: a.opts.DataDir,
		Queue: localapi.QueueStats{
			Depth: qs.Depth, Parked: qs.Parked, Bytes: qs.Bytes, OldestAgeSec: int64(qs.OldestAge / time.Second),
			OldestCaseID: qs.OldestCaseID, Delivered: qs.Delivered, Drafts: qs.Drafts,
		},
		AuditOK: true,
		Uplink:  a.uplinkStatus(),
		Devices: a.devices.states(),
	}
	if a.damaged != nil {
		st.DatabaseDamaged = a.damaged.Error()
	}
	if err := a.store.VerifyAudit(ctx); err != nil {
		st.AuditOK, st.AuditInfo = false, err.Error()
	}
	return st, nil
}

// Cases lists every case, oldest first.
func (a *Agent) Cases(ctx context.Context) ([]localapi.Case, error) {
	cs, err := a.store.Cases(ctx)
	if cs == nil && err == nil {
		cs = []localapi.Case{} // `queue ls --json` prints [] for an empty queue, never null
	}
	return cs, err
}

// Case returns one case.
func (a *Agent) Case(ctx context.Context, id string) (localapi.Case, error) {
	c, err := a.store.Case(ctx, id)
	if err != nil {
		return localapi.Case{}, err
	}
	return *c, nil
}
