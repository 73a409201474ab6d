package agent

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"koffer/agent/keys"
	"koffer/agent/web"
	"koffer/store"
	"koffer/sync/visit"
)

// The demo caseworker of a training kit. The login is printed on the training login page and
// by `make run`, so it protects nothing: a training kit holds fictional cases only, and New
// refuses to run training mode on an enrolled kit.
const (
	demoName       = "übung"
	demoPassphrase = "übungskoffer"
)

// demoVisits is the demo visit pack: clearly fictional people, one appointment or more for
// every service (the Meldebescheinigung with its register extract), dated to the day of each
// start (DATE is replaced).
//
//go:embed demo_visits.json
var demoVisits string

// SetUpTrainingDemo gives a training kit its demo caseworker on the first start, and on every
// start the demo visit pack for today, so every service can be practised on any day. The pack
// is encrypted with the data key, which the demo caseworker's known passphrase unwraps; a kit
// whose demo login was changed or removed gets no new pack. It refuses on a kit that is not a
// training kit run in training mode.
func (a *Agent) SetUpTrainingDemo(ctx context.Context) error {
	if !a.kit.Training || !a.opts.Training {
		return errors.New("demo caseworker: only a training kit in training mode has one")
	}
	day := a.now().Format(time.DateOnly)
	packID := "uebung-" + day
	packs, err := a.store.VisitPacks(ctx)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(packs, func(p store.VisitPack) bool { return p.ID == packID }) {
		return nil
	}
	n, err := a.store.CaseworkerCount(ctx)
	if err != nil {
		return err
	}
	var dk keys.DataKey
	switch cw, err := a.store.Caseworker(ctx, demoName); {
	case n == 0:
		if dk, err = a.addDemoCaseworker(ctx); err != nil {
			return err
		}
	case errors.Is(err, store.ErrNotFound):
		return nil // caseworkers of their own: no demo login to use
	case err != nil:
		return err
	default:
		if dk, err = keys.Unwrap(cw.Wrapped, []byte(demoPassphrase)); err != nil {
			a.log.Warn("trainingDemoPackSkipped", "reason", "demo passphrase changed")
			return nil
		}
	}
	defer dk.Wipe()
	raw := []byte(strings.ReplaceAll(demoVisits, "DATE", day))
	p, err := visit.Parse(raw)
	if err != nil {
		return fmt.Errorf("demo visit pack: %w", err)
	}
	aead, err := dk.AEAD()
	if err != nil {
		return err
	}
	if err := a.store.PutVisitPack(ctx, aead, store.VisitPack{ID: packID, VisitDate: p.Date}, raw); err != nil {
		return fmt.Errorf("demo visit pack: %w", err)
	}
	a.log.Info("trainingDemoPackAdded", "visitDate", p.Date, "appointments", len(p.Appointments))
	return nil
}

// addDemoCaseworker creates the demo caseworker with a new data key, and returns the key.
func (a *Agent) addDemoCaseworker(ctx context.Context) (keys.DataKey, error) {
	dk, err := keys.NewDataKey()
	if err != nil {
		return dk, err
	}
	wrapped, err := keys.Wrap(dk, []byte(demoPassphrase), keys.Params{})
	if err != nil {
		dk.Wipe()
		return dk, err
	}
	cw, err := a.store.AddCaseworker(ctx, demoName, wrapped)
	if err != nil {
		dk.Wipe()
		return dk, fmt.Errorf("demo caseworker: %w", err)
	}
	a.log.Info("trainingDemoCreated", "caseworkerId", cw.ID)
	return dk, nil
}

// DemoLogin is the demo caseworker's login for the training login page: nil unless this is a
// training kit in training mode that has the demo caseworker.
func (a *Agent) DemoLogin(ctx context.Context) *web.DemoLogin {
	if !a.kit.Training || !a.opts.Training {
		return nil
	}
	if _, err := a.store.Caseworker(ctx, demoName); err != nil {
		return nil
	}
	return &web.DemoLogin{Name: demoName, Passphrase: demoPassphrase}
}
