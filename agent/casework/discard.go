package casework

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"koffer/store"
)

// DiscardReason is why a caseworker discards a draft: a code for the audit log and its German
// label for the choice.
type DiscardReason struct {
	Code  string
	Label string
}

// DiscardReasons are the reasons a draft may be discarded for. Codes only reach the audit log
// (never free text, which could name the citizen).
var DiscardReasons = []DiscardReason{
	{"mistake", "Versehentlich angelegt"},
	{"duplicate", "Doppelt angelegt"},
	{"withdrawn", "Die Person hat den Antrag zurückgezogen"},
	{"not-met", "Person nicht angetroffen"},
	{"documents-missing", "Unterlagen fehlen, neuer Termin nötig"},
}

// DiscardDraft ends a draft without sending it, for reason (a DiscardReasons code): its steps
// and attachments are deleted in one transaction, and the audit entry names the case, the
// caseworker's id and the reason code.
func (k *Core) DiscardDraft(ctx context.Context, caseID, caseworker, reason string) error {
	if !slices.ContainsFunc(DiscardReasons, func(r DiscardReason) bool { return r.Code == reason }) {
		return &ValidationError{Fields: map[string]string{"grund": "Bitte einen Grund für das Verwerfen wählen."}}
	}
	actor := ""
	cw, err := k.opts.Store.Caseworker(ctx, caseworker)
	switch {
	case err == nil:
		actor = fmt.Sprint(cw.ID)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	defer k.lockCase(caseID)()
	err = k.opts.Store.Discard(ctx, caseID, actor, reason)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, store.ErrState):
		return ErrSealed
	case err != nil:
		return err
	}
	k.forgetCaseLock(caseID)
	return nil
}
