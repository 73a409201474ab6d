package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVisitsAdd(t *testing.T) {
	f, out, _ := testFactory(t)
	require.NoError(t, kitAddRun(&kitAddOptions{f: f, ctx: t.Context(), name: "kit-1", url: "https://localhost:8443", out: filepath.Join(t.TempDir(), "b.json")}))
	file := filepath.Join("..", "..", "testdata", "visits", "2026-11-24.json")

	require.NoError(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: file, kit: "kit-1"}))
	assert.Contains(t, out.String(), "sealed for kit kit-1")
	assert.Error(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: file, kit: "kit-unknown"}))

	bad := filepath.Join(t.TempDir(), "pack.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"appointments":[]}`), 0o600))
	assert.ErrorContains(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: bad, kit: "kit-1"}), "version",
		"a pack the kit could not read is refused before sealing")
}
