package agent

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/keys"
	"koffer/store"
)

// TestDisableCaseworkerRotatesDataKey: bernd is disabled while a draft with attachments and
// the visit key exist. He can no longer log in, and the data key he could have kept opens
// nothing any more; anna, who never gave her passphrase to the rotation, logs in with it,
// the draft seals with every attachment, and the visit key is the same identity under the
// new data key.
func TestDisableCaseworkerRotatesDataKey(t *testing.T) {
	a := newTestAgent(t, Options{})
	ctx := t.Context()
	dir := a.opts.DataDir
	cheap := keys.Params{Time: 1, MemKiB: 1024, Threads: 1}
	dk, err := keys.NewDataKey()
	require.NoError(t, err)
	for _, n := range []string{"anna", "bernd", "clara"} {
		w, err := keys.Wrap(dk, []byte("Passphrase von "+n), cheap)
		require.NoError(t, err)
		_, err = a.Store().AddCaseworker(ctx, n, w)
		require.NoError(t, err)
	}
	require.NoError(t, a.Login(ctx, "bernd", []byte("Passphrase von bernd")))
	visitBefore, err := keys.VisitRecipient(dir)
	require.NoError(t, err)
	require.NotEmpty(t, visitBefore)
	req := request(t, "wohnsitzanmeldung")
	var cf cases.File
	require.NoError(t, json.Unmarshal(req.Case, &cf))
	id, err := a.core.StartDraft(ctx, cases.Wohnsitzanmeldung, "1", nil)
	require.NoError(t, err)
	require.NoError(t, a.core.SaveDraft(ctx, id, &cf))
	_, err = a.core.AddDraftAttachment(ctx, id, "scan", "", req.Files[0])
	require.NoError(t, err)
	_, err = a.core.AddDraftAttachment(ctx, id, "signature", "", req.Files[1])
	require.NoError(t, err)
	kept, err := dk.AEAD() // what bernd could have taken with him
	require.NoError(t, err)
	a.Logout()
	require.NoError(t, a.Close())

	err = DisableCaseworker(ctx, dir, "bernd", "anna", []byte("falsche Passphrase"))
	require.ErrorIs(t, err, keys.ErrWrongPassphrase)
	require.ErrorContains(t, DisableCaseworker(ctx, dir, "anna", "anna", []byte("Passphrase von anna")), "themselves")
	require.NoError(t, DisableCaseworker(ctx, dir, "bernd", "anna", []byte("Passphrase von anna")))

	b, err := New(context.Background(), Options{DataDir: dir, Training: true})
	require.NoError(t, err)
	defer b.Close()
	assert.ErrorContains(t, b.Login(ctx, "bernd", []byte("Passphrase von bernd")), "disabled")
	_, err = b.Store().Steps(ctx, kept, id)
	assert.ErrorIs(t, err, store.ErrDecrypt, "the old data key opens no step")
	atts, err := b.Store().Attachments(ctx, id)
	require.NoError(t, err)
	require.Len(t, atts, 2)
	for _, at := range atts {
		_, err := b.Store().AttachmentData(ctx, kept, at)
		assert.ErrorIs(t, err, store.ErrDecrypt, "the old data key opens no attachment")
	}
	_, err = keys.OpenVisitKey(dir, kept)
	assert.Error(t, err, "the old data key opens no visit key")

	require.NoError(t, b.Login(ctx, "clara", []byte("Passphrase von clara")), "clara's passphrase was never asked for")
	require.NoError(t, b.Login(ctx, "anna", []byte("Passphrase von anna")))
	key, err := b.DataKey()
	require.NoError(t, err)
	vid, err := keys.OpenVisitKey(dir, key)
	require.NoError(t, err)
	assert.Equal(t, visitBefore, vid.Recipient().String(), "the same visit identity, under the new key")
	res, err := b.core.SealDraft(ctx, id, "1")
	require.NoError(t, err, "the draft and its attachments open with the new key")
	assert.Equal(t, "sealed", res.State)
	require.NoError(t, b.Store().VerifyAudit(ctx))
}
