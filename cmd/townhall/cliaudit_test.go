package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/townhall"
)

// TestCLIActionsAreAudited: `townhall kit add` and `townhall visits add` write the town hall's
// audit entry as the back office's buttons do; a refused action writes none.
func TestCLIActionsAreAudited(t *testing.T) {
	onBackends(t, func(t *testing.T, f *factory) {
		audit := func() []townhall.AuditRecord {
			t.Helper()
			th, err := f.open(t.Context())
			require.NoError(t, err)
			defer th.Close()
			log, err := th.TownhallAudit(t.Context(), 10)
			require.NoError(t, err)
			require.NoError(t, th.VerifyTownhallAudit(t.Context()), "the chain holds")
			return log
		}
		require.NoError(t, kitAddRun(&kitAddOptions{f: f, ctx: t.Context(), name: "kit-1", url: "https://th.example:8443", out: filepath.Join(t.TempDir(), "b.json")}))
		log := audit()
		require.Len(t, log, 1)
		assert.Equal(t, "kitAdded", log[0].Event)
		assert.Equal(t, "kit-1", log[0].KitID)
		assert.Equal(t, "cli", log[0].Actor)
		assert.False(t, log[0].At.IsZero())

		require.Error(t, kitAddRun(&kitAddOptions{f: f, ctx: t.Context(), name: "kit-1", url: "https://th.example:8443", out: filepath.Join(t.TempDir(), "b.json")}))
		file := filepath.Join("..", "..", "testdata", "visits", "2026-11-24.json")
		require.Error(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: file, kit: "kit-1"}), "no visit key yet")
		assert.Len(t, audit(), 1, "refused actions are not audited")

		th, err := f.open(t.Context())
		require.NoError(t, err)
		ident, err := age.GenerateX25519Identity()
		require.NoError(t, err)
		require.NoError(t, th.SetVisitRecipient(t.Context(), "kit-1", ident.Recipient().String()))
		require.NoError(t, th.Close())
		require.NoError(t, visitsAddRun(&visitsAddOptions{f: f, ctx: t.Context(), file: file, kit: "kit-1"}))
		id := regexp.MustCompile(`visit pack (\S+) signed`).FindStringSubmatch(fmt.Sprint(f.Out))
		require.Len(t, id, 2)
		log = audit()
		require.Len(t, log, 2)
		assert.Equal(t, "visitsImported", log[0].Event, "as the back office's import")
		assert.Equal(t, "kit-1", log[0].KitID)
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		var pack struct{ Appointments []json.RawMessage }
		require.NoError(t, json.Unmarshal(data, &pack))
		require.NotEmpty(t, pack.Appointments)
		assert.Equal(t, fmt.Sprintf("%s; %d", id[1], len(pack.Appointments)), log[0].Detail, "the pack and its appointments, no citizen's data")
	})
}
