package casework

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"

	"koffer/agent/cases"
	"koffer/agent/localapi"
)

// submitDigest is a keyed digest of what a submit request carries: the case file as sent and
// every file. Keyed by Options.DigestKey (a secret derived from the kit's signing key), so the
// digest kept in the database cannot be used to guess a citizen's data.
func (k *Core) submitDigest(req localapi.SubmitRequest) string {
	m := hmac.New(sha256.New, k.opts.DigestKey)
	part := func(b []byte) {
		m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		m.Write(b)
	}
	part(req.Case)
	for _, f := range req.Files {
		part(f)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// existingSubmit answers a submit whose id exists already: the same content is an idempotent
// retry (Duplicate); anything else, including a case captured in the UI, is a conflict, so a
// reused --id never silently drops a new case. It returns store.ErrNotFound if id is new.
func (k *Core) existingSubmit(ctx context.Context, id, digest string) (localapi.SubmitResponse, error) {
	got, err := k.opts.Store.SubmitDigest(ctx, id)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	if !hmac.Equal([]byte(got), []byte(digest)) {
		return localapi.SubmitResponse{}, &cases.ValidationError{Problems: []cases.Problem{{
			Field: "id", Code: "id-conflict",
			Message: "case id already used by a different case; nothing stored (submit without --id for a new case)",
			Hint:    "Diese Fallnummer gehört schon zu einem anderen Fall. Nichts wurde gespeichert.",
		}}}
	}
	c, err := k.opts.Store.Case(ctx, id)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	return localapi.SubmitResponse{ID: c.ID, State: c.State, Late: c.Late, Duplicate: true}, nil
}

// refuseIfDamaged refuses new cases while Options.Damaged reports the database damaged: more
// cases written into a damaged file are more cases at risk.
func (k *Core) refuseIfDamaged() error {
	if k.opts.Damaged == nil {
		return nil
	}
	if err := k.opts.Damaged(); err != nil {
		return &damagedError{api: &localapi.Error{Code: "database-damaged",
			Message: "the kit's database is damaged (quick check at start failed): no new cases; run koffer doctor and call a technician"}}
	}
	return nil
}

// damaged reports whether the start-up quick check found the database damaged.
func (k *Core) damaged() bool { return k.opts.Damaged != nil && k.opts.Damaged() != nil }

// ErrDatabaseDamaged: the start-up quick check found the database damaged, so no new case is
// taken. The refusal is also a *localapi.Error (code database-damaged) for the CLI.
var ErrDatabaseDamaged = errors.New("database damaged")

// DamagedHint is what a caseworker reads while the database is damaged: what still works and
// whom to call. The UI and koffer status show it.
const DamagedHint = "Die Datenbank des Koffers ist beschädigt. Neue Vorgänge können nicht angelegt werden. " +
	"Bitte die Technik anrufen. Bereits versiegelte Vorgänge werden weiter ans Rathaus gesendet."

type damagedError struct{ api *localapi.Error }

func (e *damagedError) Error() string   { return e.api.Message }
func (e *damagedError) Unwrap() []error { return []error{e.api, ErrDatabaseDamaged} }
