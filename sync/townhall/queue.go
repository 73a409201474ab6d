package townhall

import (
	"net/http"
	"time"

	"koffer/sync/receipt"
)

// noteQueue keeps what the kit reported of its outbox with an audit request (QueueHeader) for
// the fleet view. The report is information, not data: a missing or malformed one is dropped
// and the request goes on, and a failure to store it only costs freshness.
func (t *Townhall) noteQueue(r *http.Request) {
	v := r.Header.Get(receipt.QueueHeader)
	if v == "" {
		return
	}
	kitID := callerKit(r).ID
	rep, err := receipt.ParseQueueReport(v)
	if err != nil {
		// Not the error: it may quote what the kit sent, and a log holds no outside text.
		t.log.Warn("kitQueueInvalid", "kit", kitID)
		return
	}
	now := t.now().UTC()
	q := KitQueue{KitID: kitID, At: now, Depth: rep.Depth, Parked: rep.Parked}
	if rep.Depth > 0 {
		q.OldestSince = now.Add(-time.Duration(rep.OldestAgeSeconds) * time.Second)
	}
	if err := t.db.SetKitQueue(r.Context(), q); err != nil {
		t.log.Warn("kitQueue", "kit", kitID, "err", err)
	}
}
