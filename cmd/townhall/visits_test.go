package main

import (
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVisitsAdd(t *testing.T) {
	f, out, _ := testFactory(t)
	require.NoError(t, kitAddRun(&kitAddOptions{f: f, ctx: t.Context(), name: "kit-1", url: "https://localhost:8443", out: filepath.Join(t.TempDir(), "b.json")}))
	file := filepath.Join("..", "..", "testdata", "visits", "2026-11-24.json")
	assert.ErrorContains(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: file, kit: "kit-1"}), "no visit-pack key",
		"nothing is sealed before the kit registered its visit key")

	// The kit registers its visit key at its first sync after a login.
	th, err := f.open(t.Context())
	require.NoError(t, err)
	ident, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	require.NoError(t, th.SetVisitRecipient(t.Context(), "kit-1", ident.Recipient().String()))
	require.NoError(t, th.Close())

	require.NoError(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: file, kit: "kit-1"}))
	assert.Contains(t, out.String(), "sealed for kit kit-1")
	assert.Error(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: file, kit: "kit-unknown"}))

	bad := filepath.Join(t.TempDir(), "pack.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"appointments":[]}`), 0o600))
	assert.ErrorContains(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: bad, kit: "kit-1"}), "version",
		"a pack the kit could not read is refused before sealing")
}
