package keys_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/agent/keys/tpm/tpmtest"
	"koffer/devices/peer"
	"koffer/sync/enroll"
)

// assertNoKeyOnDisk fails if any file in dir holds the kit key's seed or its PEM.
func assertNoKeyOnDisk(t *testing.T, dir string, b *enroll.Bundle) {
	t.Helper()
	sk, err := b.SigningKey()
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		assert.False(t, bytes.Contains(data, sk.Seed()), "%s holds the key's seed", e.Name())
		assert.False(t, bytes.Contains(data, []byte(b.KeyPEM)), "%s holds the key's PEM", e.Name())
		assert.NotContains(t, string(data), "PRIVATE KEY", e.Name())
	}
}

// TestSaveKitProtected: with a TPM (swtpm) or a systemd credential the kit key is never
// written in clear, and LoadKit brings it back; without either it stays in kit.json.
func TestSaveKitProtected(t *testing.T) {
	tests := []struct {
		name string
		need string
		prot func(t *testing.T) keys.Protection
		want string
	}{
		{name: "tpm", need: "swtpm", prot: func(t *testing.T) keys.Protection { return keys.Protection{TPM: tpmtest.Start(t)} }, want: keys.ProtectTPM},
		{name: "systemd-creds", need: "systemd-creds", prot: func(*testing.T) keys.Protection { return keys.Protection{Creds: true} }, want: keys.ProtectCreds},
		{name: "none", need: "true", prot: func(*testing.T) keys.Protection { return keys.Protection{} }, want: keys.ProtectNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer.Need(t, tt.need)
			b, _, err := enroll.NewTraining("kit-1")
			require.NoError(t, err)
			dir := t.TempDir()
			require.NoError(t, keys.SaveKitProtected(dir, &keys.Kit{Bundle: b}, tt.prot(t)))
			if tt.want != keys.ProtectNone {
				assertNoKeyOnDisk(t, dir, b)
			}
			k, err := keys.LoadKit(dir)
			require.NoError(t, err)
			assert.Equal(t, tt.want, k.Protection)
			want, err := b.SigningKey()
			require.NoError(t, err)
			got, err := k.Bundle.SigningKey()
			require.NoError(t, err)
			assert.True(t, want.Equal(got), "the same key comes back")
			assert.Error(t, keys.SaveKitProtected(dir, &keys.Kit{Bundle: b}, tt.prot(t)), "never overwrites a kit")
		})
	}
}

// TestWrappedKitKeyMissing: kit.json without its key and no wrapped key is a clear error.
func TestWrappedKitKeyMissing(t *testing.T) {
	peer.Need(t, "systemd-creds")
	b, _, err := enroll.NewTraining("kit-1")
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, keys.SaveKitProtected(dir, &keys.Kit{Bundle: b}, keys.Protection{Creds: true}))
	require.NoError(t, os.Remove(filepath.Join(dir, keys.CredKeyFile)))
	_, err = keys.LoadKit(dir)
	assert.ErrorContains(t, err, "no wrapped key")
}

// BenchmarkLoadKit: what unsealing the kit key adds to the agent's start (target: ready
// within 300 ms), beside loading a kit whose key lies in kit.json.
func BenchmarkLoadKit(b *testing.B) {
	for _, name := range []string{"kit.json", "tpm"} {
		b.Run(name, func(b *testing.B) {
			bundle, _, err := enroll.NewTraining("kit-1")
			require.NoError(b, err)
			dir := b.TempDir()
			prot := keys.Protection{}
			if name == "tpm" {
				prot.TPM = tpmtest.Start(b)
			}
			require.NoError(b, keys.SaveKitProtected(dir, &keys.Kit{Bundle: bundle}, prot))
			for b.Loop() {
				if _, err := keys.LoadKit(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestProtectKit: a kit whose key lies in kit.json gets it sealed by the TPM in place; the
// same key comes back, and a second ProtectKit refuses.
func TestProtectKit(t *testing.T) {
	addr := tpmtest.Start(t)
	b, _, err := enroll.NewTraining("kit-1")
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, keys.SaveKit(dir, &keys.Kit{Bundle: b}))
	assert.Error(t, keys.ProtectKit(dir, keys.Protection{}), "a protection must be chosen")

	require.NoError(t, keys.ProtectKit(dir, keys.Protection{TPM: addr}))
	assertNoKeyOnDisk(t, dir, b)
	k, err := keys.LoadKit(dir)
	require.NoError(t, err)
	assert.Equal(t, keys.ProtectTPM, k.Protection)
	assert.Equal(t, b.KeyPEM, k.Bundle.KeyPEM)
	assert.ErrorContains(t, keys.ProtectKit(dir, keys.Protection{TPM: addr}), "already wrapped")
}
