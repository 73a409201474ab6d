package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRotateDataKey: disabling a caseworker moves steps, attachments and visit packs to the
// new key in one go; the old key opens none of them any more, the disabled caseworker's
// wrapping is gone, the others hold theirs of the new key. A rotation that forgets a
// caseworker is refused and changes nothing.
func TestRotateDataKey(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	old, next := newKey(t), newKey(t)
	for _, n := range []string{"anna", "bernd", "clara"} {
		_, err := s.AddCaseworker(ctx, n, []byte("wrapping of "+n))
		require.NoError(t, err)
	}
	require.NoError(t, s.CreateDraft(ctx, NewCase{ID: "c1", Service: "wohnsitzanmeldung"}))
	require.NoError(t, s.SaveStep(ctx, old, "c1", "person", []byte("step data")))
	require.NoError(t, s.SaveStep(ctx, old, "c1", "person", []byte("step data v2")))
	a, err := s.AddAttachment(ctx, old, Attachment{CaseID: "c1", Kind: "scan"}, []byte("scan bytes"))
	require.NoError(t, err)
	legacyBox, err := seal(old, []byte("old scan"), attachmentAD(Attachment{CaseID: "c1", Kind: "signature"}))
	require.NoError(t, err)
	sum, size, err := writeFileSync(s.blobs, func(sum string) string { return sum }, writeBytes(legacyBox))
	require.NoError(t, err)
	_, err = s.w.ExecContext(ctx, "INSERT INTO attachments(case_id, kind, sha256, size, created_at) VALUES ('c1','signature',?,?,0)", sum, size)
	require.NoError(t, err)
	require.NoError(t, s.PutVisitPack(ctx, old, VisitPack{ID: "v1", VisitDate: "2026-12-02"}, []byte("visit pack")))

	// Forgetting clara is refused; nothing moved.
	err = s.RotateDataKey(ctx, Rekey{Old: old, New: next, Disable: "bernd", Wrapped: map[string][]byte{"anna": []byte("new for anna")}})
	require.ErrorContains(t, err, "clara")
	steps, err := s.Steps(ctx, old, "c1")
	require.NoError(t, err)
	assert.Equal(t, "step data v2", string(steps["person"]))

	require.NoError(t, s.RotateDataKey(ctx, Rekey{Old: old, New: next, Disable: "bernd",
		Wrapped: map[string][]byte{"anna": []byte("new for anna"), "clara": []byte("new for clara")}}))

	steps, err = s.Steps(ctx, next, "c1")
	require.NoError(t, err)
	assert.Equal(t, "step data v2", string(steps["person"]))
	_, err = s.Steps(ctx, old, "c1")
	assert.ErrorIs(t, err, ErrDecrypt)
	atts, err := s.Attachments(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, atts, 2)
	want := map[int64]string{a.ID: "scan bytes"}
	for _, at := range atts {
		assert.Equal(t, 2, at.ADVersion, "every attachment is bound to its id now")
		got, err := s.AttachmentData(ctx, next, at)
		require.NoError(t, err)
		if w, ok := want[at.ID]; ok {
			assert.Equal(t, w, string(got))
		} else {
			assert.Equal(t, "old scan", string(got))
		}
		_, err = s.AttachmentData(ctx, old, at)
		assert.ErrorIs(t, err, ErrDecrypt)
	}
	assert.NoFileExists(t, filepath.Join(s.blobs, a.SHA256), "the old ciphertext is gone")
	assert.NoFileExists(t, filepath.Join(s.blobs, sum))
	files, err := os.ReadDir(s.blobs)
	require.NoError(t, err)
	assert.Len(t, files, 2)
	vp, err := s.VisitPackData(ctx, next, "v1")
	require.NoError(t, err)
	assert.Equal(t, "visit pack", string(vp))
	_, err = s.VisitPackData(ctx, old, "v1")
	assert.Error(t, err)

	cws, err := s.Caseworkers(ctx)
	require.NoError(t, err)
	got := map[string]Caseworker{}
	for _, cw := range cws {
		got[cw.Name] = cw
	}
	assert.True(t, got["bernd"].Disabled)
	assert.Empty(t, got["bernd"].Wrapped)
	assert.Equal(t, "new for anna", string(got["anna"].Wrapped))
	assert.Equal(t, "new for clara", string(got["clara"].Wrapped))
	assert.False(t, got["anna"].Disabled)
	require.NoError(t, s.VerifyAudit(ctx))

	err = s.RotateDataKey(ctx, Rekey{Old: next, New: old, Disable: "bernd", Wrapped: map[string][]byte{"anna": nil, "clara": nil}})
	assert.ErrorIs(t, err, ErrNotFound, "bernd is disabled already")
}
