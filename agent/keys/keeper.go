package keys

import (
	"crypto/cipher"
	"errors"
	"sync"
	"time"
)

// ErrNoSession is returned by Keeper when no caseworker session holds the data key.
var ErrNoSession = errors.New("no caseworker logged in")

// Keeper holds the data key in memory while at least one caseworker's session is open. Every
// caseworker has their own session: a lock or logout ends that one only, and the key is wiped
// when the last session ends or has been idle for Idle. A timer does the wiping, so the key
// does not outlive the idle lock waiting for the next call. The zero value is ready; set Idle
// and Now before use.
type Keeper struct {
	Idle time.Duration    // default 15 minutes
	Now  func() time.Time // default time.Now; the timer uses the runtime's clock (testing/synctest)

	mu    sync.Mutex
	key   DataKey
	seen  map[string]time.Time // caseworker -> last activity
	timer *time.Timer
}

func (k *Keeper) idle() time.Duration {
	if k.Idle <= 0 {
		return 15 * time.Minute
	}
	return k.Idle
}

func (k *Keeper) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Open starts (or renews) name's session with key, the data key they unwrapped. Every
// caseworker's wrapping holds the same data key, so a second caseworker's copy is wiped and the
// one in memory is kept.
func (k *Keeper) Open(name string, key DataKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expireLocked()
	if k.key == nil {
		k.key = key
	} else {
		key.Wipe()
	}
	if k.seen == nil {
		k.seen = map[string]time.Time{}
	}
	k.seen[name] = k.now()
	k.scheduleLocked()
}

// Touch counts activity of name's session. It reports false when name has no session (never
// opened, closed, or idle for too long): their UI must ask for the passphrase again.
func (k *Keeper) Touch(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expireLocked()
	if _, ok := k.seen[name]; !ok {
		return false
	}
	k.seen[name] = k.now()
	return true
}

// Close ends name's session; the key is wiped when it was the last one.
func (k *Keeper) Close(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.seen, name)
	k.expireLocked()
}

// CloseAll ends every session and wipes the key (shutdown).
func (k *Keeper) CloseAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.seen)
	k.expireLocked()
}

// Sessions is how many caseworkers hold the key now.
func (k *Keeper) Sessions() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expireLocked()
	return len(k.seen)
}

// Held reports whether the key is in memory (for tests of its lifetime).
func (k *Keeper) Held() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expireLocked()
	return k.key != nil
}

// AEAD returns the data key's AEAD while any session is open, ErrNoSession otherwise. It does
// not count as anyone's activity: background work must not keep the key alive.
func (k *Keeper) AEAD() (cipher.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expireLocked()
	if k.key == nil {
		return nil, ErrNoSession
	}
	return k.key.AEAD()
}

// expireLocked ends idle sessions and wipes the key when none is left.
func (k *Keeper) expireLocked() {
	now := k.now()
	for name, t := range k.seen {
		if now.Sub(t) >= k.idle() {
			delete(k.seen, name)
		}
	}
	if len(k.seen) == 0 {
		k.key.Wipe()
		k.key = nil
		if k.timer != nil {
			k.timer.Stop()
			k.timer = nil
		}
	}
}

// scheduleLocked arms the timer for the first session to go idle.
func (k *Keeper) scheduleLocked() {
	if len(k.seen) == 0 {
		return
	}
	var first time.Time
	for _, t := range k.seen {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	d := max(first.Add(k.idle()).Sub(k.now()), time.Millisecond)
	if k.timer != nil {
		k.timer.Stop()
	}
	k.timer = time.AfterFunc(d, k.fire)
}

func (k *Keeper) fire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expireLocked()
	// Sessions touched since the timer was armed are due later; an injected clock that stands
	// still also lands here, and the next check comes one idle period on.
	if len(k.seen) > 0 {
		k.scheduleLocked()
	}
}
