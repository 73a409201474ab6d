package agent

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"koffer/agent/casework"
	"koffer/agent/keys"
	"koffer/store"
	"koffer/sync/receipt"
	"koffer/sync/uplink"
	"koffer/sync/visit"
)

var _ uplink.VisitSink = (*Agent)(nil)

// pendingVisits holds packs fetched while no caseworker was logged in: still sealed to the
// kit's visit key (which the data key opens) and in memory only, they are verified and stored
// encrypted with the data key at the next login. The town hall keeps them until then.
type pendingVisits struct {
	mu     sync.Mutex
	sealed map[string][]byte
}

func (p *pendingVisits) put(id string, sealed []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sealed == nil {
		p.sealed = map[string][]byte{}
	}
	p.sealed[id] = sealed
}

func (p *pendingVisits) take() map[string][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sealed
	p.sealed = nil
	return s
}

// VisitRecipient implements uplink.VisitSink: the kit's visit-pack recipient, "" until the
// first login made the visit key.
func (a *Agent) VisitRecipient() (string, error) { return keys.VisitRecipient(a.opts.DataDir) }

// StoreVisitPack implements uplink.VisitSink: a pack the kit has not stored yet is opened,
// its town hall signature checked, and stored encrypted with the data key (stored), or kept
// sealed in memory until a caseworker logs in (not stored yet).
func (a *Agent) StoreVisitPack(ctx context.Context, id string, sealed []byte) (bool, error) {
	packs, err := a.store.VisitPacks(ctx)
	if err != nil {
		return false, err
	}
	for _, p := range packs {
		if p.ID == id {
			return true, nil
		}
	}
	key, err := a.DataKey()
	if errors.Is(err, store.ErrNoKey) {
		a.pending.put(id, sealed)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := a.putVisitPack(ctx, key, id, sealed); err != nil {
		return false, err
	}
	return true, nil
}

// putVisitPack opens a pack with the visit key and stores it only if the town hall signed it
// for this kit (visit.Open checks against the pinned CA).
func (a *Agent) putVisitPack(ctx context.Context, key cipher.AEAD, id string, sealed []byte) error {
	ident, err := keys.OpenVisitKey(a.opts.DataDir, key)
	if err != nil {
		return err
	}
	ca, err := receipt.ParseCA(a.kit.Bundle.CAPEM)
	if err != nil {
		return err
	}
	p, raw, err := visit.Open(sealed, a.kit.Bundle.KitID, ident, ca, a.now())
	if err != nil {
		return err
	}
	if err := a.store.PutVisitPack(ctx, key, store.VisitPack{ID: id, VisitDate: p.Date}, raw); err != nil {
		return err
	}
	a.log.Info("visitPackStored", "visitPack", id, "date", p.Date, "appointments", len(p.Appointments))
	return nil
}

// storePendingVisits stores what came while nobody was logged in (called after a login).
func (a *Agent) storePendingVisits(ctx context.Context, key cipher.AEAD) {
	for id, sealed := range a.pending.take() {
		if err := a.putVisitPack(ctx, key, id, sealed); err != nil {
			a.log.Warn("visitPackRefused", "visitPack", id, "err", err)
		}
	}
}

// PurgeVisits deletes the stored packs whose visit day is over (the kit's local date).
func (a *Agent) PurgeVisits(ctx context.Context) (int, error) {
	packs, err := a.store.VisitPacks(ctx)
	if err != nil {
		return 0, err
	}
	today, n := a.now().Format(time.DateOnly), 0
	for _, p := range packs {
		if p.VisitDate < today {
			if err := a.store.DeleteVisitPack(ctx, p.ID); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Visits returns the appointments of day (YYYY-MM-DD) from the stored packs, each with its
// visit id ("PACK/APPOINTMENT"). It needs a logged-in caseworker.
func (a *Agent) Visits(ctx context.Context, day string) ([]VisitAppointment, error) {
	key, err := a.DataKey()
	if err != nil {
		return nil, err
	}
	packs, err := a.store.VisitPacks(ctx)
	if err != nil {
		return nil, err
	}
	var out []VisitAppointment
	for _, vp := range packs {
		if vp.VisitDate != day {
			continue
		}
		p, err := a.visitPack(ctx, key, vp.ID)
		if err != nil {
			return nil, err
		}
		for _, ap := range p.Appointments {
			out = append(out, VisitAppointment{ID: vp.ID + "/" + ap.ID, Appointment: ap})
		}
	}
	return out, nil
}

// VisitAppointment is one appointment with the kit's id for it.
type VisitAppointment = casework.Appointment

var _ casework.Visits = (*Agent)(nil)

// Appointment returns the appointment of visit id "PACK/APPOINTMENT".
func (a *Agent) Appointment(ctx context.Context, visitID string) (*visit.Appointment, error) {
	packID, apID, ok := strings.Cut(visitID, "/")
	if !ok {
		return nil, fmt.Errorf("visit %q: %w", visitID, store.ErrNotFound)
	}
	key, err := a.DataKey()
	if err != nil {
		return nil, err
	}
	p, err := a.visitPack(ctx, key, packID)
	if err != nil {
		return nil, err
	}
	ap := p.Appointment(apID)
	if ap == nil {
		return nil, fmt.Errorf("visit %q: %w", visitID, store.ErrNotFound)
	}
	return ap, nil
}

func (a *Agent) visitPack(ctx context.Context, key cipher.AEAD, id string) (*visit.Pack, error) {
	raw, err := a.store.VisitPackData(ctx, key, id)
	if err != nil {
		return nil, err
	}
	return visit.Parse(raw)
}
