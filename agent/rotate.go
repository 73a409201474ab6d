package agent

import (
	"context"
	"errors"
	"fmt"

	"koffer/agent/keys"
	"koffer/store"
)

// DisableCaseworker disables a caseworker and rotates the data key, so a key they may have
// kept opens nothing written from now on nor anything stored (docs/security.md): byName, an
// enabled caseworker, unwraps the current key with their passphrase; a new key is made and
// sealed to every other enabled caseworker's identity (keys.Rewrap, no passphrases needed);
// visit.key is re-encrypted; store.RotateDataKey moves drafts, attachments and visit packs
// over and erases the disabled caseworker's wrapping in one transaction. The agent must not
// be running: the data directory's lock is taken. A caseworker whose wrapping predates
// rotation (keys version 1) must log in once first; the refusal names them.
func DisableCaseworker(ctx context.Context, dir, name, byName string, byPass []byte) error {
	if name == byName {
		return errors.New("a caseworker cannot disable themselves: another caseworker must authorise it (--by)")
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("%w (stop the agent first: the data key is rotated)", err)
	}
	defer unlock()
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	cws, err := s.Caseworkers(ctx)
	if err != nil {
		return err
	}
	var by *store.Caseworker
	found := false
	for i, cw := range cws {
		switch {
		case cw.Disabled:
		case cw.Name == byName:
			by = &cws[i]
		case cw.Name == name:
			found = true
		}
	}
	if !found {
		return fmt.Errorf("caseworker %q: not an enabled caseworker: %w", name, store.ErrNotFound)
	}
	if by == nil {
		return fmt.Errorf("caseworker %q (--by): not an enabled caseworker: %w", byName, store.ErrNotFound)
	}
	oldKey, err := keys.Unwrap(by.Wrapped, byPass)
	if err != nil {
		return fmt.Errorf("caseworker %s: %w", byName, err)
	}
	defer oldKey.Wipe()
	newKey, err := keys.NewDataKey()
	if err != nil {
		return err
	}
	defer newKey.Wipe()
	wrapped := map[string][]byte{}
	var stale []string
	for _, cw := range cws {
		if cw.Disabled || cw.Name == name {
			continue
		}
		blob := cw.Wrapped
		if cw.Name == byName {
			// The authorising caseworker's passphrase is at hand: upgrade an old wrapping.
			if up, err := keys.Upgrade(blob, oldKey, byPass); err != nil {
				return err
			} else if up != nil {
				blob = up
			}
		}
		w, err := keys.Rewrap(blob, newKey)
		if errors.Is(err, keys.ErrNeedsPassphrase) {
			stale = append(stale, cw.Name)
			continue
		}
		if err != nil {
			return fmt.Errorf("caseworker %s: %w", cw.Name, err)
		}
		wrapped[cw.Name] = w
	}
	if len(stale) > 0 {
		return fmt.Errorf("caseworkers %v must log in once before the data key can be rotated (their wrapping predates rotation)", stale)
	}
	oldAEAD, err := oldKey.AEAD()
	if err != nil {
		return err
	}
	newAEAD, err := newKey.AEAD()
	if err != nil {
		return err
	}
	if err := keys.PrepareVisitKeyRotation(dir, oldAEAD, newAEAD); err != nil {
		return err
	}
	if err := s.RotateDataKey(ctx, store.Rekey{Old: oldAEAD, New: newAEAD, Disable: name, Wrapped: wrapped}); err != nil {
		keys.AbortVisitKeyRotation(dir)
		return err
	}
	return keys.CommitVisitKeyRotation(dir)
}

// upgradeWrapping replaces a caseworker's version 1 wrapping at login (the passphrase is at
// hand only then), so the data key can later be rotated without them.
func (a *Agent) upgradeWrapping(ctx context.Context, cw *store.Caseworker, passphrase []byte, k keys.DataKey) {
	up, err := keys.Upgrade(cw.Wrapped, k, passphrase)
	if err == nil && up != nil {
		err = a.store.UpdateWrapped(ctx, cw.Name, up)
	}
	if err != nil {
		a.log.Warn("wrappingUpgradeFailed", "err", err)
	}
}
