package keys

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVisitKey: the visit-pack identity is made once, stored only encrypted with the data key,
// opens with that key only, and its recipient is readable without it.
func TestVisitKey(t *testing.T) {
	dir := t.TempDir()
	rcpt, err := VisitRecipient(dir)
	require.NoError(t, err)
	assert.Empty(t, rcpt, "none before the first login")

	dk, err := NewDataKey()
	require.NoError(t, err)
	aead, err := dk.AEAD()
	require.NoError(t, err)
	id, err := EnsureVisitKey(dir, aead)
	require.NoError(t, err)
	again, err := EnsureVisitKey(dir, aead)
	require.NoError(t, err)
	assert.Equal(t, id.String(), again.String(), "made once")
	rcpt, err = VisitRecipient(dir)
	require.NoError(t, err)
	assert.Equal(t, id.Recipient().String(), rcpt)

	raw, err := os.ReadFile(filepath.Join(dir, VisitKeyFile))
	require.NoError(t, err)
	assert.NotContains(t, string(raw), id.String(), "the identity is not on disk in clear")
	info, err := os.Stat(filepath.Join(dir, VisitKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	other, err := NewDataKey()
	require.NoError(t, err)
	oaead, err := other.AEAD()
	require.NoError(t, err)
	_, err = OpenVisitKey(dir, oaead)
	assert.ErrorContains(t, err, "does not open")
	_, err = EnsureVisitKey(dir, oaead)
	assert.Error(t, err, "another data key neither opens nor replaces it")
}
