package townhall

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/townhall/thtest"
)

// TestTownhallAuditIsAppendOnly: on both databases the town hall's audit log refuses UPDATE
// and DELETE, and entries appended one after another verify as one chain after the round trip
// through the store (times to the microsecond).
func TestTownhallAuditIsAppendOnly(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) (Metadata, func(ctx context.Context, q string) error)
	}{
		{"sqlite", func(t *testing.T) (Metadata, func(context.Context, string) error) {
			s, err := openSQLite(t.Context(), t.TempDir()+"/th.db")
			require.NoError(t, err)
			return s, func(ctx context.Context, q string) error { _, err := s.db.ExecContext(ctx, q); return err }
		}},
		{"postgres", func(t *testing.T) (Metadata, func(context.Context, string) error) {
			s, err := openPostgres(t.Context(), thtest.NeedPostgres(t))
			require.NoError(t, err)
			return s, func(ctx context.Context, q string) error { _, err := s.pool.Exec(ctx, q); return err }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, exec := tt.open(t)
			t.Cleanup(func() { _ = md.Close() })
			at := time.Date(2026, 12, 2, 9, 30, 0, 123456789, time.UTC) // nanoseconds: cut to µs
			for i, ev := range []string{"staffAdded", "caseViewed", "kitRevoked"} {
				require.NoError(t, md.AppendAudit(t.Context(), AuditRecord{At: at.Add(time.Duration(i) * time.Second), Actor: "erika", Event: ev}))
			}
			chain, err := md.TownhallAuditChain(t.Context())
			require.NoError(t, err)
			require.Len(t, chain, 3)
			prev := []byte{}
			for i, e := range chain {
				assert.Equal(t, int64(i+1), e.Seq)
				assert.Equal(t, prev, nonNil(e.PrevHash), "entry %d links to its predecessor", e.Seq)
				assert.Equal(t, auditHash(prev, e.AuditRecord), e.Hash, "entry %d verifies after the round trip", e.Seq)
				prev = e.Hash
			}
			newest, err := md.TownhallAudit(t.Context(), 2)
			require.NoError(t, err)
			require.Len(t, newest, 2)
			assert.Equal(t, "kitRevoked", newest[0].Event)

			assert.Error(t, exec(t.Context(), `UPDATE townhall_audit SET actor = 'mallory'`), "no update")
			assert.Error(t, exec(t.Context(), `DELETE FROM townhall_audit`), "no delete")
			after, err := md.TownhallAuditChain(t.Context())
			require.NoError(t, err)
			assert.Equal(t, chain, after)
		})
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
