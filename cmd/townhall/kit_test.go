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

	assert.Zero(t, b.Letterhead, "no letterhead unless the town hall sets one")

	// Never overwrite a bundle, never enroll a name twice.
	assert.Error(t, kitAddRun(opts))
	opts.out = filepath.Join(t.TempDir(), "again.json")
	assert.Error(t, kitAddRun(opts))
}

// The town hall sets the letterhead once, at enrollment; the kit prints what its bundle says.
func TestKitAddLetterhead(t *testing.T) {
	f, _, _ := testFactory(t)
	file := filepath.Join(t.TempDir(), "kit-2.json")
	cmd := newKitAddCmd(f, nil)
	cmd.SetArgs([]string{"kit-2", "--url", "https://th.example:8443", "--out", file,
		"--authority-name", "Stadt Müßingen – Bürgeramt", "--authority-address", "Marktplatz 1, 12345 Müßingen", "--place", "Müßingen"})
	cmd.SetContext(t.Context())
	require.NoError(t, cmd.Execute())
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	b, err := enroll.Parse(data)
	require.NoError(t, err)
	assert.Equal(t, enroll.Letterhead{AuthorityName: "Stadt Müßingen – Bürgeramt",
		AuthorityAddress: "Marktplatz 1, 12345 Müßingen", Place: "Müßingen"}, b.Letterhead)

	bad := newKitAddCmd(f, nil)
	bad.SetArgs([]string{"kit-3", "--url", "https://th.example:8443", "--out", filepath.Join(t.TempDir(), "k3.json"),
		"--place", "Müß\ningen"})
	bad.SetContext(t.Context())
	assert.ErrorContains(t, bad.Execute(), "place")
}
