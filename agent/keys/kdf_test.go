package keys

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKDFConcurrencyBounded: with every slot taken, a further unwrap waits (its 64 MiB are
// not allocated) until a slot frees.
func TestKDFConcurrencyBounded(t *testing.T) {
	k, err := NewDataKey()
	require.NoError(t, err)
	blob, err := Wrap(k, []byte("korrekt pferd batterie"), Params{Time: 1, MemKiB: 64, Threads: 1})
	require.NoError(t, err)

	for range MaxConcurrentKDF {
		kdfSlots <- struct{}{}
	}
	done := make(chan error, 1)
	go func() {
		_, err := Unwrap(blob, []byte("korrekt pferd batterie"))
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("an unwrap ran although every slot was taken")
	case <-time.After(200 * time.Millisecond):
	}
	<-kdfSlots
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the unwrap did not run once a slot was free")
	}
	for range MaxConcurrentKDF - 1 {
		<-kdfSlots
	}
}
