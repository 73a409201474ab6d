package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/agent/localapi"
	"koffer/store"
	"koffer/sync/enroll"
)

// TestCorruptDatabaseNoticedAtStart: a database that opens but fails its quick check is
// noticed when the agent starts: status says so, and no new case is taken.
func TestCorruptDatabaseNoticedAtStart(t *testing.T) {
	dir := t.TempDir()
	b, id, err := enroll.NewTraining("kit-test")
	require.NoError(t, err)
	require.NoError(t, keys.SaveKit(dir, &keys.Kit{Bundle: b, Training: true, TownHall: id.String()}))
	st, err := store.Open(t.Context(), dir, store.Options{})
	require.NoError(t, err)
	for i := range 400 {
		require.NoError(t, st.Audit(t.Context(), "fill", "", strings.Repeat("x", i%50)))
	}
	require.NoError(t, st.Close())
	// One page near the end (audit rows) overwritten: the file still opens.
	p := filepath.Join(dir, store.DBName)
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	page := len(raw)/4096 - 2
	require.Greater(t, page, 4)
	for i := page*4096 + 100; i < page*4096+4000; i++ {
		raw[i] = 0xA5
	}
	require.NoError(t, os.WriteFile(p, raw, 0o600))

	a, err := New(context.Background(), Options{DataDir: dir, Training: true})
	require.NoError(t, err, "the agent still starts: sealed packets can still go out")
	t.Cleanup(func() { a.Close() })

	status, err := a.Status(t.Context())
	require.NoError(t, err)
	assert.Contains(t, status.DatabaseDamaged, "quick check")

	_, err = a.Submit(t.Context(), request(t, "wohnsitzanmeldung"))
	var le *localapi.Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "database-damaged", le.Code)
}

func TestHealthyDatabasePassesAtStart(t *testing.T) {
	a := newTestAgent(t, Options{})
	status, err := a.Status(t.Context())
	require.NoError(t, err)
	assert.Empty(t, status.DatabaseDamaged)
	_, err = a.Submit(t.Context(), request(t, "wohnsitzanmeldung"))
	assert.NoError(t, err)
}
