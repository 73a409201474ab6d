package townhall_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/packet"
	"koffer/sync/receipt"
	"koffer/sync/townhall"
)

// deliver seals, uploads and commits one case with a form, a scan and a fingerprint record.
func deliver(t *testing.T, f *fixture) (string, []byte) {
	t.Helper()
	caseID := uuid.Must(uuid.NewV7()).String()
	finger := bytes.Repeat([]byte("FIR"), 100)
	data := seal(t, f.kit, nil, caseID, []packet.Part{
		{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"late":true,"applied_at":"2026-11-30T09:00:00Z"}`)},
		{Name: "scan.pdf", Kind: packet.KindScan, Data: []byte("%PDF-1.7 scan")},
		{Name: "finger-1.fir", Kind: packet.KindFingerprint, Finger: "right-index", Data: finger},
	})
	u := upload(t, f, f.http, data, len(data))
	status, raw := commit(t, f, f.http, caseID, u, hash(data))
	require.Equal(t, http.StatusOK, status, string(raw))
	return caseID, finger
}

func TestBackOfficeStoreDeletesFingerprintsAndAudits(t *testing.T) {
	onBackends(t, testBackOfficeStoreDeletesFingerprintsAndAudits)
}

func testBackOfficeStoreDeletesFingerprintsAndAudits(t *testing.T, f *fixture) {
	caseID, finger := deliver(t, f)

	cs, err := f.th.Cases(t.Context(), townhall.CaseFilter{Service: "meldebescheinigung"})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.True(t, cs[0].Late, "late flag read from form.json")
	assert.Equal(t, 2026, cs[0].AppliedAt.Year())
	none, err := f.th.Cases(t.Context(), townhall.CaseFilter{Kit: "other"})
	require.NoError(t, err)
	assert.Empty(t, none)

	require.NoError(t, f.th.MarkHandedOver(t.Context(), caseID, "erika", "drop"))
	n, err := f.th.DeleteFingerprints(t.Context(), caseID, "erika", "test rule")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = f.th.DeleteFingerprints(t.Context(), caseID, "erika", "test rule")
	require.NoError(t, err)
	assert.Zero(t, n, "deleting again deletes nothing")

	// The case still opens, without the fingerprint; no file of the town hall (nor any object
	// of its S3 bucket) holds it.
	p, err := f.th.OpenCase(t.Context(), caseID)
	require.NoError(t, err)
	require.Len(t, p.Parts, 2)
	for _, part := range p.Parts {
		assert.NotEqual(t, packet.KindFingerprint, part.Kind)
	}
	assert.Len(t, p.Manifest.Parts, 3, "the signed manifest still lists what was deleted")
	// The packet (sealed, so the walk below cannot see inside it) is gone; the redacted copy
	// is where the backend keeps packets.
	kept := 0
	for _, dir := range []string{f.dir, f.objects} {
		if dir == "" {
			continue
		}
		require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			require.NoError(t, err)
			assert.False(t, strings.HasSuffix(path, caseID+".pkt"), "%s: the packet with the fingerprint is kept", path)
			if strings.HasSuffix(path, filepath.Join("packets", caseID+".redacted")) {
				kept++
			}
			if !d.IsDir() {
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.False(t, bytes.Contains(b, finger), "%s holds the fingerprint", path)
			}
			return nil
		}))
	}
	assert.Equal(t, 1, kept, "one redacted copy")

	cs, err = f.th.Cases(t.Context(), townhall.CaseFilter{})
	require.NoError(t, err)
	assert.Equal(t, "erika", cs[0].HandedOverBy)
	assert.False(t, cs[0].FingerprintsDeletedAt.IsZero())
	log, err := f.th.TownhallAudit(t.Context(), 10)
	require.NoError(t, err)
	require.Len(t, log, 2)
	assert.Equal(t, "fingerprintsDeleted", log[0].Event)
	assert.Equal(t, "caseHandedOver", log[1].Event)
	require.NoError(t, f.th.VerifyTownhallAudit(t.Context()))
}

func TestRevokedKitIsRefusedOnEveryRequest(t *testing.T) {
	onBackends(t, testRevokedKitIsRefusedOnEveryRequest)
}

func testRevokedKitIsRefusedOnEveryRequest(t *testing.T, f *fixture) {
	deliver(t, f)
	fleet, err := f.th.Fleet(t.Context())
	require.NoError(t, err)
	require.Len(t, fleet, 1)
	assert.False(t, fleet[0].LastContact.IsZero(), "contact noted")
	notAfter, err := f.kit.CertNotAfter()
	require.NoError(t, err)
	assert.Equal(t, notAfter.Unix(), fleet[0].CertNotAfter.Unix())
	assert.Equal(t, 1, fleet[0].Received)

	require.NoError(t, f.th.RevokeKit(t.Context(), "kit-1", "admin", "verloren"))
	for _, path := range []string{"/v1/visits", "/v1/audit"} {
		resp, err := f.http.Get(f.url + path)
		require.NoError(t, err)
		var pr receipt.Problem
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&pr))
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
		assert.Equal(t, receipt.CodeRevoked, pr.Code, path)
	}
	fleet, err = f.th.Fleet(t.Context())
	require.NoError(t, err)
	assert.True(t, fleet[0].Revoked())
	assert.Equal(t, "admin", fleet[0].RevokedBy)
	assert.True(t, receipt.Final(receipt.CodeRevoked), "a kit stops retrying")
}

// failOnce fails the first record of a fingerprint deletion, as a database that goes away
// after the packet was deleted.
type failOnce struct {
	townhall.Metadata
	failed bool
}

func (m *failOnce) AddFingerprintDeletion(ctx context.Context, d townhall.FingerprintDeletion, a townhall.AuditRecord) error {
	if !m.failed {
		m.failed = true
		return errors.New("database gone")
	}
	return m.Metadata.AddFingerprintDeletion(ctx, d, a)
}

// TestDeleteFingerprintsFinishesAfterAFailedRecord: the packet is gone but the deletion was not
// recorded; deleting again records it with the number of records the signed manifest lists.
func TestDeleteFingerprintsFinishesAfterAFailedRecord(t *testing.T) {
	onBackendOptions(t, func(t *testing.T, o townhall.Options) {
		if o.Metadata == nil {
			md, err := townhall.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "th.db"))
			require.NoError(t, err)
			o.Metadata = md
		}
		o.Metadata = &failOnce{Metadata: o.Metadata}
		f := startWith(t, o)
		caseID, _ := deliver(t, f)
		_, err := f.th.DeleteFingerprints(t.Context(), caseID, "erika", "test rule")
		require.Error(t, err)
		n, err := f.th.DeleteFingerprints(t.Context(), caseID, "erika", "test rule")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "counted from the redacted copy's manifest")
		log, err := f.th.TownhallAudit(t.Context(), 1)
		require.NoError(t, err)
		require.Len(t, log, 1)
		assert.Equal(t, "test rule; 1", log[0].Detail)
		p, err := f.th.OpenCase(t.Context(), caseID)
		require.NoError(t, err)
		assert.Len(t, p.Parts, 2)
	})
}
