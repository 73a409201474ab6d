package agent

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
)

// TestLoginThrottle: wrong passphrases for one name make that name wait, doubling, even for
// the right passphrase; a spray over many names makes every login wait; time heals both.
func TestLoginThrottle(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a := newTestAgent(t, Options{Now: clock})
	ctx := t.Context()
	addCaseworker(t, a, "mmeier", "richtige Passphrase")

	for range freeFailures {
		assert.ErrorIs(t, a.Login(ctx, "mmeier", []byte("falsche Passphrase")), keys.ErrWrongPassphrase)
	}
	var te *LoginThrottledError
	require.ErrorAs(t, a.Login(ctx, "mmeier", []byte("richtige Passphrase")), &te, "the right passphrase waits too")
	assert.Equal(t, time.Second, te.Wait)
	advance(time.Second)
	assert.ErrorIs(t, a.Login(ctx, "mmeier", []byte("falsche Passphrase")), keys.ErrWrongPassphrase)
	require.ErrorAs(t, a.Login(ctx, "mmeier", []byte("richtige Passphrase")), &te)
	assert.Equal(t, 2*time.Second, te.Wait, "doubles")
	advance(2 * time.Second)
	require.NoError(t, a.Login(ctx, "mmeier", []byte("richtige Passphrase")))
	assert.ErrorIs(t, a.Login(ctx, "mmeier", []byte("falsche Passphrase")), keys.ErrWrongPassphrase, "a success starts the count again")

	// Many names, each tried once: the global limit.
	advance(time.Hour)
	for i := range globalFailures {
		assert.Error(t, a.Login(ctx, fmt.Sprintf("name%d", i), []byte("x")))
	}
	require.ErrorAs(t, a.Login(ctx, "mmeier", []byte("richtige Passphrase")), &te, "a spray over names slows every login")
	assert.LessOrEqual(t, te.Wait, globalWindow)
	advance(globalWindow)
	require.NoError(t, a.Login(ctx, "mmeier", []byte("richtige Passphrase")))
}

// addCaseworker adds a caseworker with a cheap argon2id (tests only).
func addCaseworker(t *testing.T, a *Agent, name, passphrase string) {
	t.Helper()
	dk, err := keys.NewDataKey()
	require.NoError(t, err)
	w, err := keys.Wrap(dk, []byte(passphrase), keys.Params{Time: 1, MemKiB: 1024, Threads: 1})
	require.NoError(t, err)
	_, err = a.Store().AddCaseworker(t.Context(), name, w)
	require.NoError(t, err)
}

func TestLoginDelayCapped(t *testing.T) {
	assert.Equal(t, time.Duration(0), delayAfter(freeFailures-1))
	assert.Equal(t, time.Second, delayAfter(freeFailures))
	assert.Equal(t, maxLoginDelay, delayAfter(1000), "locked out for at most 15 minutes at a time")
	var lt loginThrottle
	at := time.Now()
	for i := range maxTrackedName + 10 {
		lt.record(fmt.Sprint(i), false, at)
	}
	assert.LessOrEqual(t, len(lt.names), maxTrackedName, "memory bounded")
	long := strings.Repeat("x", 1<<20)
	lt.record(long, false, at)
	for k := range lt.names {
		assert.LessOrEqual(t, len(k), 71, "a long name is kept as its hash")
	}
}

// TestUnknownNameRunsKDF: a login for an unknown or disabled name runs argon2id once, against
// a dummy wrapping with the cost of the kit's real ones, just as a wrong passphrase does, so
// its answer's time says nothing about which names exist. The throttle still refuses before
// any derivation.
func TestUnknownNameRunsKDF(t *testing.T) {
	a := newTestAgent(t, Options{})
	ctx := t.Context()
	addCaseworker(t, a, "mmeier", "richtige Passphrase")
	addCaseworker(t, a, "kschulz", "andere Passphrase")
	require.NoError(t, DisableCaseworker(ctx, a.opts.DataDir, "kschulz", "mmeier", []byte("richtige Passphrase")))

	type call struct {
		memKiB uint32
		err    error
	}
	var calls []call
	a.unwrap = func(blob, passphrase []byte) (keys.DataKey, error) {
		var p struct {
			MemKiB uint32 `json:"m"`
		}
		require.NoError(t, json.Unmarshal(blob, &p))
		k, err := keys.Unwrap(blob, passphrase)
		calls = append(calls, call{p.MemKiB, err})
		return k, err
	}

	for _, tt := range []struct{ name, pass string }{
		{"mmeier", "falsche Passphrase"},
		{"niemand", "falsche Passphrase"},
		{"kschulz", "andere Passphrase"},
	} {
		calls = nil
		err := a.Login(ctx, tt.name, []byte(tt.pass))
		require.Error(t, err, tt.name)
		require.Len(t, calls, 1, "%s: one argon2id derivation", tt.name)
		assert.Equal(t, uint32(1024), calls[0].memKiB, "%s: at the cost of the real wrappings", tt.name)
		assert.ErrorIs(t, calls[0].err, keys.ErrWrongPassphrase, "%s: the derivation ran and did not open it", tt.name)
	}

	// The throttle is not weakened: unknown names count as failures and, once throttled,
	// cost no derivation.
	for range freeFailures - 1 {
		require.Error(t, a.Login(ctx, "niemand", []byte("x")))
	}
	calls = nil
	var te *LoginThrottledError
	require.ErrorAs(t, a.Login(ctx, "niemand", []byte("x")), &te)
	assert.Empty(t, calls, "a throttled attempt runs no KDF")
}
