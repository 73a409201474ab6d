package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"koffer/agent/keys"
)

// Login throttling: after freeFailures wrong passphrases for one name, each further attempt
// for that name must wait twice as long as the one before (1 s, 2 s, 4 s, ... up to
// maxLoginDelay, which is the lockout); and beyond globalFailures failures within
// globalWindow, for any names, every login waits until the window has room. Refused attempts
// cost no argon2id work; the work itself is bounded by keys.MaxConcurrentKDF. An attempt let
// through costs one derivation whether the name exists or not (dummyWrapping).
const (
	freeFailures   = 3
	maxLoginDelay  = 15 * time.Minute
	globalWindow   = time.Minute
	globalFailures = 20
	maxTrackedName = 1024 // names remembered; unknown names count too, so the map is bounded
)

// LoginThrottledError refuses a login attempt made too soon after failures.
type LoginThrottledError struct{ Wait time.Duration }

func (e *LoginThrottledError) Error() string {
	return fmt.Sprintf("login: too many failed attempts, wait %s", e.Wait.Round(time.Second))
}

type loginThrottle struct {
	mu     sync.Mutex
	names  map[string]*nameFailures
	recent []time.Time // failures of any name, oldest first
}

type nameFailures struct {
	n    int
	last time.Time
}

func delayAfter(n int) time.Duration {
	if n < freeFailures {
		return 0
	}
	d := time.Second
	for i := freeFailures; i < n && d < maxLoginDelay; i++ {
		d *= 2
	}
	return min(d, maxLoginDelay)
}

// check returns an error if a login for name must wait at now.
func (t *loginThrottle) check(name string, now time.Time) error {
	name = throttleKey(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prune(now)
	var wait time.Duration
	if f := t.names[name]; f != nil {
		wait = f.last.Add(delayAfter(f.n)).Sub(now)
	}
	if len(t.recent) >= globalFailures {
		wait = max(wait, t.recent[len(t.recent)-globalFailures].Add(globalWindow).Sub(now))
	}
	if wait > 0 {
		return &LoginThrottledError{Wait: wait}
	}
	return nil
}

// record notes the outcome of an attempt that was let through.
func (t *loginThrottle) record(name string, ok bool, now time.Time) {
	name = throttleKey(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		delete(t.names, name)
		return
	}
	if t.names == nil {
		t.names = map[string]*nameFailures{}
	}
	f := t.names[name]
	if f == nil {
		if len(t.names) >= maxTrackedName {
			t.evictOldest()
		}
		f = &nameFailures{}
		t.names[name] = f
	}
	f.n++
	f.last = now
	t.recent = append(t.recent, now)
}

// throttleKey bounds what one remembered name costs: a name typed into the login form can be
// up to the form's size, so long ones are kept as their hash.
func throttleKey(name string) string {
	if len(name) <= 64 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// prune forgets failures that no longer matter: a name whose lockout has long passed starts
// again, and the global window slides.
func (t *loginThrottle) prune(now time.Time) {
	for name, f := range t.names {
		if now.Sub(f.last) > 2*maxLoginDelay {
			delete(t.names, name)
		}
	}
	i := 0
	for i < len(t.recent) && now.Sub(t.recent[i]) >= globalWindow {
		i++
	}
	t.recent = t.recent[i:]
}

func (t *loginThrottle) evictOldest() {
	var oldest string
	var at time.Time
	for name, f := range t.names {
		if oldest == "" || f.last.Before(at) {
			oldest, at = name, f.last
		}
	}
	delete(t.names, oldest)
}

// dummyWrapping is what a login for an unknown or disabled name is checked against: a
// wrapping with the cost of the kit's real ones (keys.Dummy), so its answer takes as long as
// one for a wrong passphrase.
func (a *Agent) dummyWrapping(ctx context.Context) []byte {
	cws, err := a.store.Caseworkers(ctx)
	if err != nil {
		return keys.Dummy(nil)
	}
	for _, cw := range cws {
		if !cw.Disabled && len(cw.Wrapped) > 0 {
			return keys.Dummy(cw.Wrapped)
		}
	}
	return keys.Dummy(nil)
}
