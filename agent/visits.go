package agent

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"strings"
	"sync"

	"koffer/agent/casework"
	"koffer/store"
	"koffer/sync/uplink"
	"koffer/sync/visit"
)

var _ uplink.VisitSink = (*Agent)(nil)

// pendingVisits holds packs fetched while no caseworker was logged in: still sealed to the
// kit's key and in memory only, they are stored encrypted with the data key at the next login.
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

// StoreVisitPack implements uplink.VisitSink: a pack the kit has not stored yet is opened,
// checked and stored encrypted with the data key, or kept sealed until a caseworker logs in.
func (a *Agent) StoreVisitPack(ctx context.Context, id string, sealed []byte) error {
	packs, err := a.store.VisitPacks(ctx)
	if err != nil {
		return err
	}
	for _, p := range packs {
		if p.ID == id {
			return nil
		}
	}
	key, err := a.unlockedKey()
	if errors.Is(err, store.ErrNoKey) {
		a.pending.put(id, sealed)
		return nil
	}
	if err != nil {
		return err
	}
	return a.putVisitPack(ctx, key, id, sealed)
}

func (a *Agent) putVisitPack(ctx context.Context, key cipher.AEAD, id string, sealed []byte) error {
	sk, err := a.kit.Bundle.SigningKey()
	if err != nil {
		return err
	}
	p, raw, err := visit.Open(sealed, sk)
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
