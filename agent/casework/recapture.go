package casework

import (
	"context"
	"errors"
	"strings"

	"koffer/agent/cases"
	"koffer/store"
)

// RecaptureHand is "Neu erfassen" for a hand: its attempts and decisions are forgotten, its
// stored fingerprint (and any capture waiting for a decision) deleted, and the procedure starts
// again at the hand's first finger.
func (k *Core) RecaptureHand(ctx context.Context, ch Change, hand string) (*Case, error) {
	if hand != "left" && hand != "right" {
		return nil, &ValidationError{Fields: map[string]string{"": "Unbekannte Hand."}}
	}
	return k.change(ctx, ch, func(c *store.Case, st *draftState) error {
		atts, err := k.opts.Store.Attachments(ctx, c.ID)
		if err != nil {
			return err
		}
		for _, at := range atts {
			if at.Kind == cases.KindFingerprint && strings.HasPrefix(at.Finger, hand+"_") {
				if err := k.opts.Store.RemoveAttachment(ctx, c.ID, at.ID, ch.Caseworker); err != nil && !errors.Is(err, store.ErrNotFound) {
					return lockedErr(err)
				}
			}
		}
		for _, kind := range cases.FingerOrder {
			st.forgetCandidates(hand + "_" + kind)
		}
		st.capture().Reset(hand)
		delete(st.Attached, hand)
		k.log.Info("handRecapture", "caseId", c.ID, "hand", hand)
		return nil
	})
}
