package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/store"
)

var cheapArgon = keys.Params{Time: 1, MemKiB: 1024, Threads: 1}

func TestUserAdd(t *testing.T) {
	f, out, errOut := dataFactory(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--training"}, f), errOut.String())
	pf := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(pf, []byte("erste Passphrase lang\n"), 0o600))

	opts := &userAddOptions{f: f, ctx: t.Context(), Name: "mmeier", PassphraseFile: pf, params: cheapArgon}
	require.NoError(t, userAddRun(opts))
	assert.Contains(t, out.String(), "caseworker mmeier added")

	// The second caseworker needs the first to unwrap the data key; passphrases from stdin.
	f.In = strings.NewReader("zweite Passphrase lang\nerste Passphrase lang\n")
	require.NoError(t, userAddRun(&userAddOptions{f: f, ctx: t.Context(), Name: "kschulz", By: "mmeier", params: cheapArgon}))

	f.In = strings.NewReader("dritte Passphrase lang\nfalsche Passphrase!!\n")
	err := userAddRun(&userAddOptions{f: f, ctx: t.Context(), Name: "lwolf", By: "mmeier", params: cheapArgon})
	assert.ErrorIs(t, err, errBadAuthoriser)

	// An unknown --by gets the same answer: the CLI does not say which names exist.
	f.In = strings.NewReader("dritte Passphrase lang\nirgendeine Passphrase\n")
	unknown := userAddRun(&userAddOptions{f: f, ctx: t.Context(), Name: "lwolf", By: "niemand", params: cheapArgon})
	assert.Equal(t, err, unknown)

	err = userAddRun(&userAddOptions{f: f, ctx: t.Context(), Name: "lwolf", PassphraseFile: pf, params: cheapArgon})
	assert.ErrorContains(t, err, "--by NAME")

	f.In = strings.NewReader("kurz\n")
	err = userAddRun(&userAddOptions{f: f, ctx: t.Context(), Name: "x"})
	assert.ErrorContains(t, err, "shorter than")

	// Both caseworkers unwrap the same data key.
	s, err := store.Open(t.Context(), f.DataDir, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	a, err := s.Caseworker(t.Context(), "mmeier")
	require.NoError(t, err)
	b, err := s.Caseworker(t.Context(), "kschulz")
	require.NoError(t, err)
	ka, err := keys.Unwrap(a.Wrapped, []byte("erste Passphrase lang"))
	require.NoError(t, err)
	kb, err := keys.Unwrap(b.Wrapped, []byte("zweite Passphrase lang"))
	require.NoError(t, err)
	assert.Equal(t, ka, kb)
	n, err := s.CaseworkerCount(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, n, "failed adds leave the store as before")
}

func TestUserAddNeedsInit(t *testing.T) {
	f, _, errOut := dataFactory(t)
	f.In = strings.NewReader("eine Passphrase lang\n")
	code := run(t.Context(), []string{"user", "add", "mmeier"}, f)
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut.String(), "koffer init")
}
