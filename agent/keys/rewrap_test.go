package keys

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRewrapWithoutPassphrase: a new data key sealed into a caseworker's wrapping opens with
// their unchanged passphrase; the old key no longer comes out; a wrong passphrase still fails.
func TestRewrapWithoutPassphrase(t *testing.T) {
	old, err := NewDataKey()
	require.NoError(t, err)
	blob, err := Wrap(old, []byte("richtige Passphrase"), cheap)
	require.NoError(t, err)
	next, err := NewDataKey()
	require.NoError(t, err)
	again, err := Rewrap(blob, next)
	require.NoError(t, err)
	got, err := Unwrap(again, []byte("richtige Passphrase"))
	require.NoError(t, err)
	assert.Equal(t, next, got)
	assert.NotEqual(t, old, got)
	_, err = Unwrap(again, []byte("falsche Passphrase"))
	assert.ErrorIs(t, err, ErrWrongPassphrase)
}

// TestVersion1Wrapping: an old row still opens, cannot be rewrapped, and upgrades at login.
func TestVersion1Wrapping(t *testing.T) {
	k, err := NewDataKey()
	require.NoError(t, err)
	v1, err := wrapV1(k, []byte("richtige Passphrase"), cheap)
	require.NoError(t, err)
	got, err := Unwrap(v1, []byte("richtige Passphrase"))
	require.NoError(t, err)
	assert.Equal(t, k, got)
	_, err = Rewrap(v1, k)
	assert.ErrorIs(t, err, ErrNeedsPassphrase)

	v2, err := Upgrade(v1, k, []byte("richtige Passphrase"))
	require.NoError(t, err)
	require.NotNil(t, v2)
	got, err = Unwrap(v2, []byte("richtige Passphrase"))
	require.NoError(t, err)
	assert.Equal(t, k, got)
	none, err := Upgrade(v2, k, []byte("richtige Passphrase"))
	require.NoError(t, err)
	assert.Nil(t, none, "version 2 needs no upgrade")
}
