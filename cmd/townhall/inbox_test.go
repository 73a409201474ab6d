package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/townhall"
)

func TestInboxLsAndOpen(t *testing.T) {
	f, caseID, parts := serveAndDeliver(t)
	out := f.Out.(*bytes.Buffer)

	out.Reset()
	require.NoError(t, inboxLsRun(&inboxLsOptions{f: f, ctx: t.Context(), json: true}))
	var entries []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &entries))
	require.Len(t, entries, 1)
	for _, k := range []string{"case_id", "service", "kit", "received_at", "receipt"} {
		assert.Contains(t, entries[0], k)
	}
	assert.Equal(t, caseID, entries[0]["case_id"])
	assert.Equal(t, "wohnsitzanmeldung", entries[0]["service"])
	assert.Equal(t, "kit-1", entries[0]["kit"])

	out.Reset()
	require.NoError(t, inboxLsRun(&inboxLsOptions{f: f, ctx: t.Context()}))
	assert.Contains(t, out.String(), caseID)

	dir := filepath.Join(t.TempDir(), "case")
	require.NoError(t, inboxOpenRun(&inboxOpenOptions{f: f, ctx: t.Context(), caseID: caseID, out: dir}))
	for _, p := range parts {
		got, err := os.ReadFile(filepath.Join(dir, p.Name))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(p.Data, got), p.Name)
	}
	assert.FileExists(t, filepath.Join(dir, "manifest.json"))

	th, err := townhall.Open(t.Context(), f.DataDir, townhall.Options{})
	require.NoError(t, err)
	defer th.Close()
	log, err := th.TownhallAudit(t.Context(), 1)
	require.NoError(t, err)
	require.Len(t, log, 1)
	assert.Equal(t, "caseExported", log[0].Event, "personal data leaving the store is audited")
	assert.Equal(t, caseID, log[0].CaseID)
}
