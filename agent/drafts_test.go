package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/keys"
	"koffer/store"
)

func loggedIn(t *testing.T, a *Agent) {
	t.Helper()
	dk, err := keys.NewDataKey()
	require.NoError(t, err)
	w, err := keys.Wrap(dk, []byte("richtige Passphrase"), keys.Params{Time: 1, MemKiB: 1024, Threads: 1})
	require.NoError(t, err)
	_, err = a.Store().AddCaseworker(t.Context(), "mmeier", w)
	require.NoError(t, err)
	require.NoError(t, a.Login(t.Context(), "mmeier", []byte("richtige Passphrase")))
}

func dirHolds(t *testing.T, dir string, needle string) bool {
	t.Helper()
	found := false
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(needle)) {
			found = true
		}
		return err
	}))
	return found
}

// A case captured step by step: every step and file is encrypted with the data key on disk,
// sealing turns it into a packet and deletes the steps, and without a login nothing is readable.
func TestDraftCaptureAndSeal(t *testing.T) {
	a := newTestAgent(t, Options{})
	ctx := t.Context()
	req := request(t, "wohnsitzanmeldung")
	var cf cases.File
	require.NoError(t, json.Unmarshal(req.Case, &cf))

	_, err := a.core.StartDraft(ctx, cases.Wohnsitzanmeldung, "1", nil)
	assert.ErrorIs(t, err, store.ErrNoKey, "drafts need a logged-in caseworker")
	loggedIn(t, a)

	id, err := a.core.StartDraft(ctx, cases.Wohnsitzanmeldung, "1", nil)
	require.NoError(t, err)
	require.NoError(t, a.core.SaveDraft(ctx, id, &cf))
	_, err = a.core.AddDraftAttachment(ctx, id, "scan", "", req.Files[0])
	require.NoError(t, err)

	// Sealing too early: the rules say what is missing, the draft stays a draft.
	_, err = a.core.SealDraft(ctx, id, "1")
	assert.ErrorContains(t, err, "attachments: signature required")
	c, err := a.Store().Case(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, store.StateDraft, c.State)

	_, err = a.core.AddDraftAttachment(ctx, id, "signature", "", req.Files[0])
	assert.ErrorContains(t, err, "is pdf", "a PDF is not a signature image")
	_, err = a.core.AddDraftAttachment(ctx, id, "signature", "", req.Files[1])
	require.NoError(t, err)

	assert.False(t, dirHolds(t, a.opts.DataDir, cf.Person.FamilyName), "the draft is encrypted on disk")
	assert.False(t, dirHolds(t, a.opts.DataDir, cf.Person.BirthDate))

	res, err := a.core.SealDraft(ctx, id, "1")
	require.NoError(t, err)
	assert.Equal(t, "sealed", res.State)
	_, err = a.core.SealDraft(ctx, id, "1")
	assert.ErrorIs(t, err, cases.ErrIllegalMove)

	steps, err := a.Store().Steps(ctx, nil, id)
	require.NoError(t, err)
	assert.Empty(t, steps, "steps are deleted when the packet holds them")

	p := openPacket(t, a, id)
	assert.Contains(t, string(p.Parts[0].Data), cf.Person.FamilyName)
	assert.Len(t, p.Parts, 3)
	assert.False(t, dirHolds(t, a.opts.DataDir, cf.Person.FamilyName))

	a.Logout()
	assert.ErrorIs(t, a.core.SaveDraft(ctx, id, &cf), store.ErrNoKey)
}
