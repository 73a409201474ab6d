package townhall_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/receipt"
	"koffer/sync/townhall"
)

// chain builds n correctly hashed audit entries after prev (seq from+1 on).
func chain(prev []byte, from int64, events ...string) []receipt.AuditEntry {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var out []receipt.AuditEntry
	for i, ev := range events {
		e := receipt.AuditEntry{Seq: from + int64(i) + 1, At: at.Add(time.Duration(i) * time.Second), Event: ev, CaseID: "019a-case", Actor: "kit", PrevHash: prev}
		e.Hash = receipt.AuditHash(e.PrevHash, e.Seq, e.At.UnixMilli(), e.Event, e.CaseID, e.Actor)
		out = append(out, e)
		prev = e.Hash
	}
	return out
}

// TestKitAuditChainBreakFlagged: the town hall recomputes each entry's hash. A chain that
// holds is not flagged; an entry changed on the kit and re-linked by hand is kept as evidence
// and flagged once in the town hall's audit log and the fleet view, naming the first break.
func TestKitAuditChainBreakFlagged(t *testing.T) {
	f := start(t)
	post := func(entries []receipt.AuditEntry) int {
		b, err := json.Marshal(entries)
		require.NoError(t, err)
		resp, err := f.http.Post(f.url+"/v1/audit", "application/json", bytes.NewReader(b))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	good := chain(make([]byte, sha256.Size), 0, "case.created", "case.sealed", "case.delivered")
	require.Equal(t, http.StatusOK, post(good))
	seq, err := f.th.AuditBreak(t.Context(), "kit-1")
	require.NoError(t, err)
	assert.Zero(t, seq, "a chain that holds is not flagged")

	// Entry 5's event rewritten ("case.cancelled" hides a delivery), its hash left and the
	// next entry linked to it: the links hold, the hash does not.
	more := chain(good[2].Hash, 3, "caseworker.login", "case.delivered", "case.created")
	more[1].Event = "case.cancelled"
	require.Equal(t, http.StatusOK, post(more), "kept as evidence")
	require.Equal(t, http.StatusOK, post(more), "sent again: flagged once")

	seq, err = f.th.AuditBreak(t.Context(), "kit-1")
	require.NoError(t, err)
	assert.EqualValues(t, 5, seq)
	log, err := f.th.AuditLog(t.Context(), "kit-1")
	require.NoError(t, err)
	assert.Len(t, log, 6)
	recs, err := f.th.TownhallAudit(t.Context(), 100)
	require.NoError(t, err)
	var flags []townhall.AuditRecord
	for _, r := range recs {
		if r.Event == townhall.EventKitAuditBroken {
			flags = append(flags, r)
		}
	}
	require.Len(t, flags, 1)
	assert.Equal(t, "kit-1", flags[0].KitID)
	assert.Equal(t, "5", flags[0].Detail)
	require.NoError(t, f.th.VerifyTownhallAudit(t.Context()))

	fleet, err := f.th.Fleet(t.Context())
	require.NoError(t, err)
	require.Len(t, fleet, 1)
	assert.EqualValues(t, 5, fleet[0].AuditBrokenSeq)

	// A first entry that does not start at the zero hash is a break too.
	other, err := f.th.AddKit(t.Context(), "kit-2", f.url)
	require.NoError(t, err)
	forged := chain([]byte{7}, 0, "case.created")
	b, err := json.Marshal(forged)
	require.NoError(t, err)
	resp, err := client(t, other).Post(f.url+"/v1/audit", "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	seq, err = f.th.AuditBreak(t.Context(), "kit-2")
	require.NoError(t, err)
	assert.EqualValues(t, 1, seq)
}
