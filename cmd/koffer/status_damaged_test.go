package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/localapi"
	"koffer/store"
)

// damageDatabase overwrites one page near the end of the kit's database (audit rows), so the
// file still opens but fails its quick check.
func damageDatabase(t *testing.T, dir string) {
	t.Helper()
	st, err := store.Open(t.Context(), dir, store.Options{})
	require.NoError(t, err)
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

// TestStatusDamagedDatabaseExits2: on a kit whose start-up quick check found the database
// damaged, koffer status says so in German and English and exits 2 like doctor; --json keeps
// its fields and exits 2 as well. A healthy kit exits 0.
func TestStatusDamagedDatabaseExits2(t *testing.T) {
	f, _, _ := dataFactory(t)
	stop := startAgent(t, f)
	var out bytes.Buffer
	hf := *f
	hf.Out = &out
	require.Equal(t, exitOK, run(t.Context(), []string{"status"}, &hf), "a healthy kit: %s", out.String())
	assert.NotContains(t, out.String(), "BESCHÄDIGT")
	stop()

	damageDatabase(t, f.DataDir)
	startAgent(t, f)

	out.Reset()
	require.Equal(t, exitCode(2), run(t.Context(), []string{"status"}, &hf))
	assert.Contains(t, out.String(), "DATENBANK:  BESCHÄDIGT")
	assert.Contains(t, out.String(), "Techniker")
	assert.Contains(t, out.String(), "DATABASE:   DAMAGED")
	assert.Contains(t, out.String(), "kit:", "the rest of the status is still printed")

	out.Reset()
	require.Equal(t, exitCode(2), run(t.Context(), []string{"status", "--json"}, &hf))
	var st localapi.Status
	require.NoError(t, json.Unmarshal(out.Bytes(), &st), out.String())
	assert.Contains(t, st.DatabaseDamaged, "quick check")
	assert.Equal(t, "training", st.Mode, "the other fields stay")
	assert.NotEmpty(t, st.KitID)
}
