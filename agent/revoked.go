package agent

import (
	"context"
	"time"

	"koffer/agent/keys"
)

// A kit the town hall revoked (reported lost or stolen, issue 17) shuts itself down as far as
// it can on its own: the uplink stops sending (sync/uplink), and kitRevoked forgets every key
// that opens a citizen's data. The data key leaves memory and every caseworker's wrapped copy
// is erased, so drafts stay as ciphertext nobody can open; the visit key and the stored visit
// packs are deleted. The UI then
// refuses every login and says why (WebBackend.Login). Sealed packets still queued stay on
// the kit, parked with reason revoked and unreadable to the kit as always: the town hall's
// administrator decides whether the kit, back in safe hands, may still deliver them
// (`townhall kit allow-sealed`, then unpark and `koffer sync`). A revoked kit is re-enrolled
// under a new name.

// kitRevoked is the uplink's Revoked callback, and runs again at every start of a revoked kit
// (forgetting is idempotent; a crash between the steps is finished then).
func (a *Agent) kitRevoked(ctx context.Context, at time.Time) {
	a.log.Error("kitRevoked", "at", at)
	a.Logout() // every caseworker's session: the key leaves memory
	a.pending.take()
	if err := a.store.MarkRevoked(context.WithoutCancel(ctx), at); err != nil {
		a.log.Error("kitRevokeRecord", "err", err)
	}
	if err := keys.RemoveVisitKey(a.opts.DataDir); err != nil {
		a.log.Error("visitKeyRemove", "err", err)
	}
}

// RevokedAt is when this kit learnt that the town hall revoked it; zero while it is not.
func (a *Agent) RevokedAt(ctx context.Context) time.Time {
	if a.uplink != nil {
		if at := a.uplink.State().RevokedAt; !at.IsZero() {
			return at
		}
	}
	at, err := a.store.RevokedAt(ctx)
	if err != nil {
		a.log.Error("revokedLookup", "err", err)
	}
	return at
}
