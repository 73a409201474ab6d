// Package storetest helps tests of the store's users: it damages a kit's database the way a
// failing SD card does.
package storetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"koffer/store"
)

// Damage runs prepare on the store in dir (if set), then overwrites one page near the end of
// its database (audit rows): the file still opens but fails its quick check.
func Damage(t testing.TB, dir string, prepare func(*store.Store)) {
	t.Helper()
	st, err := store.Open(t.Context(), dir, store.Options{})
	require.NoError(t, err)
	if prepare != nil {
		prepare(st)
	}
	for i := range 400 {
		require.NoError(t, st.Audit(t.Context(), "fill", "", strings.Repeat("x", i%50)))
	}
	require.NoError(t, st.Close())
	p := filepath.Join(dir, store.DBName)
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	page := len(raw)/4096 - 2
	require.Greater(t, page, 4)
	for i := page*4096 + 100; i < page*4096+4000; i++ {
		raw[i] = 0xA5
	}
	require.NoError(t, os.WriteFile(p, raw, 0o600))
}
