package tpm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys/tpm"
	"koffer/agent/keys/tpm/tpmtest"
)

// TestSealUnseal against swtpm: a sealed secret comes back from the same TPM (also over a new
// connection), the blob does not hold it, and another TPM cannot unseal it.
func TestSealUnseal(t *testing.T) {
	addr := tpmtest.Start(t)
	secret := []byte("0123456789abcdef0123456789abcdef")
	tp, err := tpm.Open(addr)
	require.NoError(t, err)
	blob, err := tp.Seal(secret)
	require.NoError(t, err)
	require.NoError(t, tp.Close())
	assert.NotContains(t, string(blob), string(secret))

	tp, err = tpm.Open(addr)
	require.NoError(t, err)
	defer tp.Close()
	got, err := tp.Unseal(blob)
	require.NoError(t, err)
	assert.Equal(t, secret, got)

	_, err = tp.Unseal([]byte(`{"v":1,"public":"AA==","private":"AA=="}`))
	assert.Error(t, err)

	other, err := tpm.Open(tpmtest.Start(t))
	require.NoError(t, err)
	defer other.Close()
	_, err = other.Unseal(blob)
	assert.ErrorContains(t, err, "another TPM", "bound to the TPM that sealed it")
}
