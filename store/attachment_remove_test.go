package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRemoveAttachmentAndPhotoAtDelivery: a photo taken again replaces the first (row and file
// gone, audited, only while a draft); the photo is biometric and goes at delivery like a
// fingerprint.
func TestRemoveAttachmentAndPhotoAtDelivery(t *testing.T) {
	s, c := newTestStore(t)
	ctx := t.Context()
	key := newKey(t)
	require.NoError(t, s.CreateDraft(ctx, NewCase{ID: "c1", Service: "personalausweis"}))
	first, err := s.AddAttachment(ctx, key, Attachment{CaseID: "c1", Kind: "photo"}, []byte("JPEG-first"))
	require.NoError(t, err)
	require.NoError(t, s.RemoveAttachment(ctx, "c1", first.ID, "anna"))
	assert.NoFileExists(t, filepath.Join(s.Dir(), BlobsDir, first.SHA256))
	assert.ErrorIs(t, s.RemoveAttachment(ctx, "c1", first.ID, "anna"), ErrNotFound)
	second, err := s.AddAttachment(ctx, key, Attachment{CaseID: "c1", Kind: "photo"}, []byte("JPEG-second"))
	require.NoError(t, err)
	sig, err := s.AddAttachment(ctx, key, Attachment{CaseID: "c1", Kind: "signature"}, []byte("PNG-signature"))
	require.NoError(t, err)
	atts, err := s.Attachments(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, atts, 2)
	assert.True(t, atts[0].Biometric(), "a face image is biometric")
	require.NoError(t, s.VerifyAudit(ctx))

	_, err = s.SealCase(ctx, NewCase{ID: "c1", Service: "personalausweis"}, writeBytes([]byte("sealed")))
	require.NoError(t, err)
	assert.ErrorIs(t, s.RemoveAttachment(ctx, "c1", second.ID, "anna"), ErrState, "a sealed case keeps its files")
	require.NoError(t, s.SetUploadURL(ctx, "c1", "https://townhall.example/files/1"))
	c.advance(time.Minute)
	require.NoError(t, s.Deliver(ctx, "c1", Receipt{Number: "TH-1", Time: c.t, Raw: []byte("signed")}))
	assert.NoFileExists(t, filepath.Join(s.Dir(), BlobsDir, second.SHA256), "the photo goes at delivery")
	assert.FileExists(t, filepath.Join(s.Dir(), BlobsDir, sig.SHA256))
	atts, err = s.Attachments(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, atts, 1)
	assert.Equal(t, "signature", atts[0].Kind)
}
