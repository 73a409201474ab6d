package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/agent/keys/tpm/tpmtest"
	"koffer/sync/enroll"
)

// assertKitKeyNotOnDisk walks the whole data directory: no file holds the kit key's seed or
// PEM.
func assertKitKeyNotOnDisk(t *testing.T, dir string, b *enroll.Bundle) {
	t.Helper()
	sk, err := b.SigningKey()
	require.NoError(t, err)
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		assert.False(t, bytes.Contains(data, sk.Seed()), "%s holds the kit key", p)
		assert.False(t, bytes.Contains(data, []byte(b.KeyPEM)), "%s holds the kit key's PEM", p)
		assert.NotContains(t, string(data), "PRIVATE KEY", p)
		return nil
	}))
	assert.Positive(t, n)
}

// TestTPMWrappedKitKey against swtpm: a kit enrolled with --key-protection tpm keeps its key
// only sealed by the TPM; the agent unseals it at start and syncs to a real town hall, and
// again after a restart.
func TestTPMWrappedKitKey(t *testing.T) {
	tpmAddr := tpmtest.Start(t)
	th, bundle := serveTownhall(t, t.TempDir(), "kit-tpm")

	f, out, errOut := dataFactory(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--enroll", bundle, "--key-protection", "tpm", "--tpm", tpmAddr}, f), errOut.String())
	assert.Contains(t, out.String(), "kit key: tpm2")
	raw, err := os.ReadFile(bundle)
	require.NoError(t, err)
	b, err := enroll.Parse(raw)
	require.NoError(t, err)
	assertKitKeyNotOnDisk(t, f.DataDir, b)
	k, err := keys.LoadKit(f.DataDir)
	require.NoError(t, err)
	assert.Equal(t, keys.ProtectTPM, k.Protection)

	caseFiles, err := filepath.Glob("../../testdata/cases/valid/*/case.json")
	require.NoError(t, err)
	var ids []string
	for round := range 2 { // the second round runs after a restart of the agent
		p := startAgentProc(t, f.DataDir)
		id := uuid.Must(uuid.NewV7()).String()
		cf := *f
		cf.Out, cf.ErrOut = &bytes.Buffer{}, &bytes.Buffer{}
		require.NoError(t, caseSubmitRun(&caseSubmitOptions{f: &cf, ctx: t.Context(), ID: id, File: caseFiles[round], Now: time.Now}))
		ids = append(ids, id)
		var so bytes.Buffer
		cf.Out = &so
		require.NoError(t, syncRun(&syncOptions{f: &cf, ctx: t.Context(), wait: true, timeout: 30 * time.Second, connect: connectSyncAgent}), p.logs.String())
		assert.Contains(t, so.String(), "queue empty")
		p.kill()
		assertKitKeyNotOnDisk(t, f.DataDir, b)
	}
	inbox, err := th.Inbox(t.Context())
	require.NoError(t, err)
	got := map[string]bool{}
	for _, c := range inbox {
		got[c.CaseID] = true
	}
	for _, id := range ids {
		assert.True(t, got[id], "case %s reached the town hall", id)
		_, err := th.OpenCase(t.Context(), id)
		assert.NoError(t, err, "signed with the unsealed kit key")
	}
}

// TestInitProtectKey: koffer init --protect-key seals the key of a kit that kept it in
// kit.json, and the kit still loads with the same key.
func TestInitProtectKey(t *testing.T) {
	tpmAddr := tpmtest.Start(t)
	f, out, errOut := dataFactory(t)
	bundle := writeBundle(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--enroll", bundle, "--key-protection", "none"}, f), errOut.String())
	before, err := keys.LoadKit(f.DataDir)
	require.NoError(t, err)
	require.Equal(t, keys.ProtectNone, before.Protection)

	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--protect-key", "--key-protection", "tpm", "--tpm", tpmAddr}, f), errOut.String())
	assert.Contains(t, out.String(), "wrapped (tpm2)")
	assertKitKeyNotOnDisk(t, f.DataDir, before.Bundle)
	after, err := keys.LoadKit(f.DataDir)
	require.NoError(t, err)
	assert.Equal(t, keys.ProtectTPM, after.Protection)
	assert.Equal(t, before.Bundle.KeyPEM, after.Bundle.KeyPEM)
	assert.Equal(t, exitError, run(t.Context(), []string{"init", "--protect-key", "--key-protection", "tpm", "--tpm", tpmAddr}, f), "already wrapped")
	assert.Equal(t, exitUsage, run(t.Context(), []string{"init", "--protect-key", "--training"}, f))
}
