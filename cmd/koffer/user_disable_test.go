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

// TestUserDisable: `koffer user disable` through the command line: refused without --by and
// while the agent runs; afterwards the disabled caseworker's wrapping is gone and the other
// caseworker's passphrase opens a new data key.
func TestUserDisable(t *testing.T) {
	f, out, errOut := dataFactory(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--training"}, f), errOut.String())
	pf := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(pf, []byte("erste Passphrase lang\n"), 0o600))
	require.NoError(t, userAddRun(&userAddOptions{f: f, ctx: t.Context(), Name: "mmeier", PassphraseFile: pf, params: cheapArgon}))
	f.In = strings.NewReader("zweite Passphrase lang\nerste Passphrase lang\n")
	require.NoError(t, userAddRun(&userAddOptions{f: f, ctx: t.Context(), Name: "kschulz", By: "mmeier", params: cheapArgon}))
	s, err := store.Open(t.Context(), f.DataDir, store.Options{})
	require.NoError(t, err)
	before, err := s.Caseworker(t.Context(), "mmeier")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	oldKey, err := keys.Unwrap(before.Wrapped, []byte("erste Passphrase lang"))
	require.NoError(t, err)

	assert.Equal(t, exitUsage, run(t.Context(), []string{"user", "disable", "kschulz"}, f), "--by is required")

	p := startAgentProc(t, f.DataDir, "--training")
	err = userDisableRun(&userDisableOptions{f: f, ctx: t.Context(), Name: "kschulz", By: "mmeier", ByFile: pf})
	assert.ErrorContains(t, err, "stop the agent first")
	p.kill()

	out.Reset()
	require.Equal(t, exitOK, run(t.Context(), []string{"user", "disable", "kschulz", "--by", "mmeier", "--by-passphrase-file", pf}, f), errOut.String())
	assert.Contains(t, out.String(), "caseworker kschulz disabled; data key rotated")

	s, err = store.Open(t.Context(), f.DataDir, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	gone, err := s.Caseworker(t.Context(), "kschulz")
	require.NoError(t, err)
	assert.True(t, gone.Disabled)
	assert.Empty(t, gone.Wrapped)
	kept, err := s.Caseworker(t.Context(), "mmeier")
	require.NoError(t, err)
	newKey, err := keys.Unwrap(kept.Wrapped, []byte("erste Passphrase lang"))
	require.NoError(t, err)
	assert.NotEqual(t, oldKey, newKey, "the data key was rotated")
	require.NoError(t, s.VerifyAudit(t.Context()))
}
