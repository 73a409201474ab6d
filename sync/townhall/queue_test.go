package townhall_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/receipt"
	"koffer/sync/townhall"
)

// TestKitQueueReportedWithAudit: what a kit reports of its outbox with its audit requests
// (GET and POST /v1/audit) is kept per kit and shown in the fleet; a malformed report is
// dropped without failing the audit.
func TestKitQueueReportedWithAudit(t *testing.T) {
	onBackendOptions(t, func(t *testing.T, o townhall.Options) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		o.Now = func() time.Time { return now }
		f := startWith(t, o)
		audit := func(method, header string, body []byte) {
			t.Helper()
			req, err := http.NewRequest(method, f.url+"/v1/audit", bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if header != "" {
				req.Header.Set(receipt.QueueHeader, header)
			}
			resp, err := f.http.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "the audit request is answered whatever the report")
		}
		kit := func() townhall.KitStatus {
			t.Helper()
			fleet, err := f.th.Fleet(t.Context())
			require.NoError(t, err)
			require.Len(t, fleet, 1)
			return fleet[0]
		}

		audit(http.MethodGet, "", nil)
		assert.True(t, kit().QueueReportedAt.IsZero(), "no report: unknown, not zero")

		audit(http.MethodGet, receipt.QueueReport{Depth: 3, OldestAgeSeconds: 7200, Parked: 1}.String(), nil)
		k := kit()
		assert.Equal(t, now, k.QueueReportedAt)
		assert.Equal(t, 3, k.QueueDepth)
		assert.Equal(t, 1, k.Parked)
		assert.Equal(t, now.Add(-2*time.Hour), k.OldestWaiting, "the age is taken on the town hall's clock")

		now = now.Add(time.Hour)
		entries, err := json.Marshal([]receipt.AuditEntry{{Seq: 1, At: now, Event: "caseDelivered", Actor: "kit", Hash: []byte{1}}})
		require.NoError(t, err)
		audit(http.MethodPost, receipt.QueueReport{}.String(), entries)
		k = kit()
		assert.Equal(t, now, k.QueueReportedAt)
		assert.Zero(t, k.QueueDepth, "delivered: nothing waits")
		assert.Zero(t, k.Parked)
		assert.True(t, k.OldestWaiting.IsZero())

		for _, bad := range []string{`{"depth":1,"oldest_age_s":1,"parked":0,"case_id":"c1"}`, `{"depth":1,"oldest_age_s":1,"parked":5}`, `x`} {
			now = now.Add(time.Minute)
			audit(http.MethodGet, bad, nil)
		}
		assert.Equal(t, now.Add(-3*time.Minute), kit().QueueReportedAt, "malformed reports are dropped")
	})
}
