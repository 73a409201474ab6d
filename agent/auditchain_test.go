package agent

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/store"
)

// TestAuditHashContract: the kit's store and the town hall's check compute one audit hash
// (store cannot import sync, so the formula lives in both; this binds them).
func TestAuditHashContract(t *testing.T) {
	s, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.CreateDraft(t.Context(), store.NewCase{ID: "c1", Service: "lebensbescheinigung"}))
	require.NoError(t, s.Audit(t.Context(), "caseworker.login", "", "7"))
	es, err := auditLog{s}.AuditEntries(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, es, 2)
	for _, e := range es {
		assert.True(t, e.Valid(), "entry %d verifies at the town hall", e.Seq)
	}
	es[1].Actor = "8"
	assert.False(t, es[1].Valid(), "a changed entry does not")
}
