package keys

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeeperSessionsPerCaseworker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := &Keeper{Idle: 15 * time.Minute}
		dk, err := NewDataKey()
		require.NoError(t, err)
		kept := dk
		k.Open("anna", dk)
		second := bytes.Clone(kept)
		k.Open("bernd", second)
		assert.Equal(t, make([]byte, len(second)), []byte(second), "the second caseworker's copy is wiped")
		require.Equal(t, 2, k.Sessions())

		// bernd works, anna idles: anna's session ends on time, the key stays for bernd.
		for range 5 {
			time.Sleep(4 * time.Minute)
			require.True(t, k.Touch("bernd"))
		}
		synctest.Wait()
		assert.False(t, k.Touch("anna"), "anna idled past the lock")
		assert.Equal(t, 1, k.Sessions())
		_, err = k.AEAD()
		require.NoError(t, err, "bernd still holds the key")

		// bernd logs out: he was the last one, the key is wiped at once.
		k.Close("bernd")
		assert.False(t, k.Held())
		assert.Equal(t, make([]byte, len(kept)), []byte(kept), "the key's bytes are overwritten")
		_, err = k.AEAD()
		require.ErrorIs(t, err, ErrNoSession)
	})
}

func TestKeeperIdleTimerWipesKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := &Keeper{Idle: 15 * time.Minute}
		dk, err := NewDataKey()
		require.NoError(t, err)
		k.Open("anna", dk)
		time.Sleep(14 * time.Minute)
		synctest.Wait()
		require.True(t, k.Held())
		require.True(t, k.Touch("anna"))
		time.Sleep(14 * time.Minute)
		synctest.Wait()
		require.True(t, k.Held(), "activity postponed the lock")
		// Nobody calls anything: the timer alone forgets the key.
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		assert.False(t, k.Held(), "the idle timer wiped the key without a call")
		assert.Equal(t, make([]byte, len(dk)), []byte(dk))
	})
}

func TestKeeperCloseOneKeepsOther(t *testing.T) {
	k := &Keeper{}
	dk, err := NewDataKey()
	require.NoError(t, err)
	k.Open("anna", dk)
	dk2, err := NewDataKey()
	require.NoError(t, err)
	k.Open("bernd", dk2)
	k.Close("anna")
	assert.True(t, k.Held())
	assert.False(t, k.Touch("anna"))
	assert.True(t, k.Touch("bernd"))
	k.CloseAll()
	assert.False(t, k.Held())
	assert.Zero(t, k.Sessions())
}
