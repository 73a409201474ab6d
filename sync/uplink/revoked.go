package uplink

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"koffer/sync/receipt"
	"koffer/sync/tus"
)

// A revoked kit (the town hall answered 403 with code revoked, issue 17) stops sending: a kit
// reported lost or stolen must not keep knocking, and whatever it sends is refused anyway.
// The refused packet is parked with code revoked (the kit parks the rest of its queue as it
// learns of the revocation): those packets were sealed before the kit was lost, and the town
// hall's administrator decides whether the kit, back in safe hands, may deliver them
// (`townhall kit allow-sealed`). After that a technician unparks them and kicks the uplink
// (`koffer sync`), which makes a single pass over the outbox; the kit never retries on its
// own.

// errRevoked marks a town hall answer that refuses this kit as revoked.
var errRevoked = errors.New("kit revoked by the town hall")

// statusError is a refused JSON request's error; a revoked kit's wraps errRevoked.
func statusError(status int, code string) error {
	if code == receipt.CodeRevoked {
		return fmt.Errorf("status %d: %w", status, errRevoked)
	}
	return fmt.Errorf("status %d %s", status, code)
}

func (u *Uplink) revoked() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return !u.state.RevokedAt.IsZero()
}

// revoke records the revocation; the first time it tells the kit (Options.Revoked).
func (u *Uplink) revoke(ctx context.Context) {
	now := u.now()
	first := false
	u.update(func(s *State) {
		if s.RevokedAt.IsZero() {
			s.RevokedAt, first = now, true
		}
		s.Reachable, s.LastContact, s.LastError, s.LastErrorAt = true, now, receipt.CodeRevoked, now
	})
	if !first {
		u.log.Warn("kitStillRevoked")
		return
	}
	u.log.Error("kitRevoked")
	if u.opts.Revoked != nil {
		u.opts.Revoked(ctx, now)
	}
}

// waitKick blocks a revoked uplink until a kick (true) or the end of ctx (false).
func (u *Uplink) waitKick(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-u.kick:
		u.log.Info("revokedKitProbe")
		return true
	}
}

// headResult classifies a failed HEAD. A HEAD answer has no body, so a 403 does not say why;
// one small GET asks, so a revoked kit is recognised on the resume path too.
func (u *Uplink) headResult(ctx context.Context, err error) result {
	var se *tus.StatusError
	if errors.As(err, &se) && se.Status == http.StatusForbidden {
		cctx, cancel := context.WithTimeout(ctx, u.opts.RequestTimeout)
		defer cancel()
		var head receipt.AuditHead
		if gerr := u.doJSON(cctx, http.MethodGet, "/v1/audit", nil, &head); errors.Is(gerr, errRevoked) {
			return result{final: true, code: receipt.CodeRevoked, err: err}
		}
	}
	return u.transportResult("head", err)
}
