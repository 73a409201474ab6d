package keys

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
)

// countKDF counts argon2id calls and the memory each asked for, until the test ends; real
// derivations still run unless fake is set.
func countKDF(t *testing.T, fake bool) *[]uint32 {
	var mem []uint32
	t.Cleanup(func() { idKey = argon2.IDKey })
	idKey = func(pass, salt []byte, time, memKiB uint32, threads uint8, n uint32) []byte {
		mem = append(mem, memKiB)
		if fake {
			return make([]byte, n)
		}
		return argon2.IDKey(pass, salt, time, memKiB, threads, n)
	}
	return &mem
}

// TestDummyRunsKDF: unwrapping a dummy wrapping runs argon2id once, with the cost of the real
// wrapping it was made like (the defaults without one), and fails as a wrong passphrase does.
func TestDummyRunsKDF(t *testing.T) {
	dk, err := NewDataKey()
	require.NoError(t, err)
	like, err := Wrap(dk, []byte("richtige Passphrase"), Params{Time: 1, MemKiB: 2048, Threads: 1})
	require.NoError(t, err)

	calls := countKDF(t, false)
	for _, pass := range []string{"richtige Passphrase", "falsche Passphrase", ""} {
		_, err := Unwrap(Dummy(like), []byte(pass))
		require.ErrorIs(t, err, ErrWrongPassphrase, "no passphrase opens a dummy")
	}
	assert.Equal(t, []uint32{2048, 2048, 2048}, *calls, "one derivation each, at the real wrapping's cost")
	assert.NotEqual(t, Dummy(like), Dummy(like), "a fresh salt each time")

	calls = countKDF(t, true)
	_, err = Unwrap(Dummy(nil), []byte("x"))
	require.ErrorIs(t, err, ErrWrongPassphrase)
	_, err = Unwrap(Dummy([]byte("{kaputt")), []byte("x"))
	require.ErrorIs(t, err, ErrWrongPassphrase)
	assert.Equal(t, []uint32{64 * 1024, 64 * 1024}, *calls, "the default cost without a real wrapping")
}
