package keys

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"koffer/sync/enroll"
)

var cheap = Params{Time: 1, MemKiB: 1024, Threads: 1}

func TestWrapUnwrap(t *testing.T) {
	k, err := NewDataKey()
	require.NoError(t, err)
	blob, err := Wrap(k, []byte("korrekt pferd batterie"), cheap)
	require.NoError(t, err)
	assert.NotContains(t, string(blob), string(k))

	got, err := Unwrap(blob, []byte("korrekt pferd batterie"))
	require.NoError(t, err)
	assert.Equal(t, k, got)

	_, err = Unwrap(blob, []byte("korrekt pferd batteriE"))
	assert.ErrorIs(t, err, ErrWrongPassphrase)

	_, err = Wrap(k, []byte("short"), cheap)
	assert.ErrorContains(t, err, "shorter than")

	_, err = Unwrap([]byte(`{"v":1,"kdf":"argon2id","t":1,"m":99999999,"p":1}`), []byte("x"))
	assert.ErrorContains(t, err, "unsupported", "a huge memory cost from a tampered row is refused")

	a, err := k.AEAD()
	require.NoError(t, err)
	assert.Equal(t, 24, a.NonceSize())
	k.Wipe()
	assert.Equal(t, make(DataKey, 32), k)
}

func TestDefaultParams(t *testing.T) {
	p := Params{}.withDefaults()
	assert.Equal(t, Params{Time: 3, MemKiB: 64 * 1024, Threads: 4}, p)
}

func TestSaveLoadKit(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadKit(dir)
	assert.ErrorIs(t, err, ErrNotInitialised)

	b, id, err := enroll.NewTraining("kit-test")
	require.NoError(t, err)
	require.NoError(t, SaveKit(dir, &Kit{Bundle: b, Training: true, TownHall: id.String()}))
	assert.Error(t, SaveKit(dir, &Kit{Bundle: b}), "never overwrites a kit")

	st, err := os.Stat(filepath.Join(dir, BundleFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	k, err := LoadKit(dir)
	require.NoError(t, err)
	assert.True(t, k.Training)
	assert.Equal(t, "kit-test", k.Bundle.KitID)
	assert.Equal(t, id.String(), k.TownHall)
}

// FuzzUnwrap: a wrapped key comes from the database, which a thief can edit. Unwrap must fail
// cleanly on anything, and never accept a blob it did not make for this passphrase.
func FuzzUnwrap(f *testing.F) {
	k := make(DataKey, 32)
	blob, err := Wrap(k, []byte("korrekt pferd batterie"), cheap)
	require.NoError(f, err)
	f.Add(blob)
	f.Add([]byte(`{"v":1,"kdf":"argon2id","t":1,"m":8,"p":1,"salt":"","box":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var w wrapped
		if json.Unmarshal(data, &w) == nil && (w.Time > 2 || w.MemKiB > 4096) {
			t.Skip("expensive parameters are valid input but too slow to fuzz")
		}
		got, err := Unwrap(data, []byte("falsche Passphrase"))
		if err == nil {
			t.Fatalf("unwrapped %x with the wrong passphrase", got)
		}
	})
}
