package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
)

func TestKitAdd(t *testing.T) {
	f, out, _ := testFactory(t)
	file := filepath.Join(t.TempDir(), "kit-1.json")
	opts := &kitAddOptions{f: f, ctx: t.Context(), name: "kit-1", url: "https://th.example:8443", out: file}
	require.NoError(t, kitAddRun(opts))
	assert.Contains(t, out.String(), "koffer init --enroll")

	data, err := os.ReadFile(file)
	require.NoError(t, err)
	b, err := enroll.Parse(data)
	require.NoError(t, err)
	assert.Equal(t, "kit-1", b.KitID)
	assert.Equal(t, "https://th.example:8443", b.URL)
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the bundle is a secret")

	// Never overwrite a bundle, never enroll a name twice.
	assert.Error(t, kitAddRun(opts))
	opts.out = filepath.Join(t.TempDir(), "again.json")
	assert.Error(t, kitAddRun(opts))
}
