package townhall

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"koffer/sync/receipt"
)

// CodeRecipientConflict refuses a visit-pack recipient when the kit registered another one.
const CodeRecipientConflict = "recipient_conflict"

// VisitRecipient is the body of PUT /v1/visits/recipient.
type VisitRecipient struct {
	Recipient string `json:"recipient"`
}

// getVisits serves the calling kit's packs whose day is not over; expired packs of every kit
// are deleted first, so a pack never outlives its day even if its kit never comes back.
func (t *Townhall) getVisits(w http.ResponseWriter, r *http.Request) {
	if n, err := t.ExpireVisits(r.Context()); err != nil {
		t.log.Error("visitsExpire", "err", err)
	} else if n > 0 {
		t.log.Info("visitPacksExpired", "count", n)
	}
	vs, err := t.db.Visits(r.Context(), callerKit(r).ID)
	if err != nil {
		t.log.Error("visits", "err", err)
		problem(w, http.StatusInternalServerError, receipt.CodeInternal, "database")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(vs)
}

// putVisitRecipient registers the calling kit's visit-pack recipient.
func (t *Townhall) putVisitRecipient(w http.ResponseWriter, r *http.Request) {
	var body VisitRecipient
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&body); err != nil {
		problem(w, http.StatusBadRequest, receipt.CodeBadRequest, `body must be {"recipient": "age1..."}`)
		return
	}
	kitID := callerKit(r).ID
	err := t.SetVisitRecipient(r.Context(), kitID, body.Recipient)
	switch {
	case errors.Is(err, errRecipientConflict):
		t.log.Warn("visitRecipientConflict", "kit", kitID)
		problem(w, http.StatusConflict, CodeRecipientConflict, "another visit-pack key is registered for this kit; re-enrol it")
		return
	case errors.Is(err, ErrNotFound):
		problem(w, http.StatusForbidden, receipt.CodeUnknownKit, "kit not enrolled here")
		return
	case errors.Is(err, errBadRecipient):
		problem(w, http.StatusBadRequest, receipt.CodeBadRequest, "recipient is not an age X25519 recipient")
		return
	case err != nil:
		t.log.Error("visitRecipient", "err", err)
		problem(w, http.StatusInternalServerError, receipt.CodeInternal, "database")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// deleteVisit is the kit's acknowledgement: it stored the pack, so the town hall drops it.
func (t *Townhall) deleteVisit(w http.ResponseWriter, r *http.Request) {
	kitID := callerKit(r).ID
	err := t.db.DeleteVisit(r.Context(), kitID, r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		problem(w, http.StatusNotFound, receipt.CodeBadRequest, "no such visit pack for this kit")
		return
	}
	if err != nil {
		t.log.Error("visitDelete", "err", err)
		problem(w, http.StatusInternalServerError, receipt.CodeInternal, "database")
		return
	}
	t.log.Info("visitPackAcknowledged", "kit", kitID, "visitPack", r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}
