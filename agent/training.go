package agent

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
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

// demoVisits is the demo visit pack: clearly fictional people, dated to the day the training
// kit is created (DATE is replaced). Issue 12 extends it to every service.
//
//go:embed demo_visits.json
var demoVisits string

// SetUpTrainingDemo gives a fresh training kit its demo caseworker and demo visit pack, so a
// newcomer can log in at once. It does nothing where any caseworker exists, and refuses on a
// kit that is not a training kit run in training mode.
func (a *Agent) SetUpTrainingDemo(ctx context.Context) error {
	if !a.kit.Training || !a.opts.Training {
		return errors.New("demo caseworker: only a training kit in training mode has one")
	}
	n, err := a.store.CaseworkerCount(ctx)
	if err != nil || n > 0 {
		return err
	}
	dk, err := keys.NewDataKey()
	if err != nil {
		return err
	}
	defer dk.Wipe()
	wrapped, err := keys.Wrap(dk, []byte(demoPassphrase), keys.Params{})
	if err != nil {
		return err
	}
	cw, err := a.store.AddCaseworker(ctx, demoName, wrapped)
	if err != nil {
		return fmt.Errorf("demo caseworker: %w", err)
	}
	day := a.now().Format(time.DateOnly)
	raw := []byte(strings.ReplaceAll(demoVisits, "DATE", day))
	p, err := visit.Parse(raw)
	if err != nil {
		return fmt.Errorf("demo visit pack: %w", err)
	}
	aead, err := dk.AEAD()
	if err != nil {
		return err
	}
	if err := a.store.PutVisitPack(ctx, aead, store.VisitPack{ID: "uebung-" + day, VisitDate: p.Date}, raw); err != nil {
		return fmt.Errorf("demo visit pack: %w", err)
	}
	a.log.Info("trainingDemoCreated", "caseworkerId", cw.ID, "appointments", len(p.Appointments))
	return nil
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
