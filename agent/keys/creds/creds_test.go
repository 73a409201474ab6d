package creds_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys/creds"
	"koffer/devices/peer"
)

// TestEncryptDecrypt with the real systemd-creds: the credential does not hold the secret,
// decrypts under its name only, and a service's decrypted credential is used as it is.
func TestEncryptDecrypt(t *testing.T) {
	peer.Need(t, "systemd-creds")
	secret := []byte("0123456789abcdef0123456789abcdef")
	cred, err := creds.Encrypt(t.Context(), "koffer-test", secret)
	require.NoError(t, err)
	assert.NotContains(t, string(cred), string(secret))
	got, err := creds.Decrypt(t.Context(), "koffer-test", cred)
	require.NoError(t, err)
	assert.Equal(t, secret, got)
	_, err = creds.Decrypt(t.Context(), "another-name", cred)
	assert.Error(t, err, "the name is bound into the credential")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "another-name"), []byte("from systemd"), 0o600))
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	got, err = creds.Decrypt(t.Context(), "another-name", cred)
	require.NoError(t, err)
	assert.Equal(t, "from systemd", string(got))
}
