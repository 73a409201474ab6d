package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"

	"koffer/agent/casework"
	"koffer/agent/keys"
	"koffer/agent/web"
	"koffer/store"
	"koffer/sync/uplink"
)

// DocumentScanner scans one document (casework.DocumentScanner).
type DocumentScanner = casework.DocumentScanner

// WebDevices are the devices the core drives (casework.Devices). A nil device shows as "not
// set up".
type WebDevices = casework.Devices

// WebBackend is the caseworker UI's backend: the application core, plus login and lock, which
// are the agent's data key.
type WebBackend struct {
	*casework.Core
	a *Agent
}

var _ web.Backend = (*WebBackend)(nil)

// newCore wires the application core to this agent's store, keys, sealer and visit packs.
func (a *Agent) newCore() *casework.Core {
	auth, place := a.letterhead()
	return casework.New(casework.Options{
		Store: a.store, Keys: a, Sealer: a.sealer, KitID: a.kit.Bundle.KitID, Visits: a,
		Uplink: func() (uplink.State, bool) {
			if a.uplink == nil {
				return uplink.State{}, false
			}
			return a.uplink.State(), true
		},
		Authority: auth, Place: place, Training: a.opts.Training,
		DeviceStates: a.deviceStates,
		DigestKey:    submitDigestKey(a.sealer.Key),
		Damaged:      a.damagedErr,
		OnSealed: func(id string) { // read at call time: the uplink hooks itself in after New
			if a.opts.OnSealed != nil {
				a.opts.OnSealed(id)
			}
		},
		Now: a.now, Logger: a.opts.Logger,
	})
}

// WebBackend returns the UI's backend over this agent, driving dev.
func (a *Agent) WebBackend(dev WebDevices) *WebBackend {
	a.core.SetDevices(dev)
	return &WebBackend{Core: a.core, a: a}
}

// Login implements web.Backend.
func (b *WebBackend) Login(ctx context.Context, name, passphrase string) (web.Caseworker, error) {
	if !b.a.RevokedAt(ctx).IsZero() {
		return web.Caseworker{}, web.ErrKitRevoked // revoked.go
	}
	err := b.a.Login(ctx, name, []byte(passphrase))
	if errors.Is(err, keys.ErrWrongPassphrase) || errors.Is(err, store.ErrNotFound) {
		return web.Caseworker{}, web.ErrBadLogin
	}
	var te *LoginThrottledError
	if errors.As(err, &te) {
		return web.Caseworker{}, &web.TooManyAttemptsError{Wait: te.Wait}
	}
	if err != nil {
		return web.Caseworker{}, err
	}
	return web.Caseworker{Name: name, Display: name}, nil
}

// Lock implements web.Backend: the caseworker's session ends; the data key is forgotten when
// nobody else is logged in (drafts wait for the next login).
func (b *WebBackend) Lock(_ context.Context, caseworker string) error {
	b.a.Lock(caseworker)
	return nil
}

// Touch implements web.Backend.
func (b *WebBackend) Touch(_ context.Context, caseworker string) error {
	if !b.a.Touch(caseworker) {
		return web.ErrLocked
	}
	return nil
}

// deviceStates is the start page's device list: the kit profile's devices with their state,
// the same list as `koffer status --json`.
func (a *Agent) deviceStates(context.Context) []casework.Device {
	return a.devices.states()
}

// submitDigestKey derives the key of the CLI submit digest from the kit's signing key, so the
// digest kept in the database reveals nothing of the case.
func submitDigestKey(k ed25519.PrivateKey) []byte {
	key := sha256.Sum256(append([]byte("koffer submit digest v1\x00"), k.Seed()...))
	return key[:]
}
