package townhall

import (
	"context"
	"fmt"
	"strconv"

	"koffer/sync/receipt"
)

// Each kit's audit log arrives hash-chained (sync/receipt AuditEntry). The store already
// refuses a batch that does not continue the chain it holds (sequence and prev_hash); this
// file checks what the store cannot: that every entry's hash is the hash of its own content.
// An entry rewritten on the kit after the fact (its event, case or time changed, and the
// chain re-linked by hand) fails here. The batch is kept as evidence, not refused (a refused
// batch would only be sent again and again), and the break is flagged: an entry
// "kitAuditBroken" in the town hall's own audit log naming the first broken sequence number,
// and the kit marked in the back office's fleet view.
//
// Hooks: postAudit (handler.go) calls checkAuditChain after the store accepted a batch;
// Fleet (backoffice.go) calls flagAuditBreaks to fill KitStatus.AuditBrokenSeq.

// EventKitAuditBroken is the town hall audit event of a kit whose audit chain does not hold.
const EventKitAuditBroken = "kitAuditBroken"

// checkAuditChain flags the first entry of a stored batch whose hash does not hold, once per
// kit and entry.
func (t *Townhall) checkAuditChain(ctx context.Context, kitID string, entries []receipt.AuditEntry) {
	for _, e := range entries {
		if e.Valid() {
			continue
		}
		seq := strconv.FormatInt(e.Seq, 10)
		flagged, err := t.db.KitAuditEvents(ctx, EventKitAuditBroken, kitID)
		if err != nil {
			t.log.Error("auditCheck", "kit", kitID, "err", err)
			return
		}
		for _, f := range flagged {
			if f.Detail == seq {
				return
			}
		}
		t.log.Warn("kitAuditBroken", "kit", kitID, "seq", e.Seq)
		if err := t.RecordAudit(ctx, AuditRecord{Actor: "townhall", Event: EventKitAuditBroken, KitID: kitID, Detail: seq}); err != nil {
			t.log.Error("auditCheck", "kit", kitID, "err", err)
		}
		return
	}
}

// AuditBreak is the first sequence number of a kit's audit log found broken; 0 if none.
func (t *Townhall) AuditBreak(ctx context.Context, kitID string) (int64, error) {
	flagged, err := t.db.KitAuditEvents(ctx, EventKitAuditBroken, kitID)
	if err != nil {
		return 0, fmt.Errorf("audit break: %w", err)
	}
	var first int64
	for _, f := range flagged {
		if seq, err := strconv.ParseInt(f.Detail, 10, 64); err == nil && (first == 0 || seq < first) {
			first = seq
		}
	}
	return first, nil
}

// flagAuditBreaks fills in which kits' audit chains are broken, for the fleet view.
func (t *Townhall) flagAuditBreaks(ctx context.Context, kits []KitStatus) error {
	for i := range kits {
		seq, err := t.AuditBreak(ctx, kits[i].ID)
		if err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
		kits[i].AuditBrokenSeq = seq
	}
	return nil
}
