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
	file := filepath.Join(t.TempDir(), "pack.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"appointments":[]}`), 0o600))

	require.NoError(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: file, kit: "kit-1"}))
	assert.Contains(t, out.String(), "sealed for kit kit-1")
	assert.Error(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: file, kit: "kit-unknown"}))
}
