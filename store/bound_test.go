package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two scans of one case: exchanging the file names their rows point at (what an attacker with
// write access to koffer.db can do) must not hand the caseworker the other scan.
func TestSwappedAttachmentRefused(t *testing.T) {
	s, _ := newTestStore(t)
	key := newKey(t)
	ctx := t.Context()
	require.NoError(t, s.CreateDraft(ctx, NewCase{ID: "c1", Service: "wohnsitzanmeldung"}))
	a, err := s.AddAttachment(ctx, key, Attachment{CaseID: "c1", Kind: "scan"}, []byte("scan one"))
	require.NoError(t, err)
	b, err := s.AddAttachment(ctx, key, Attachment{CaseID: "c1", Kind: "scan"}, []byte("scan two"))
	require.NoError(t, err)
	require.Equal(t, a.ID+1, b.ID, "ids stay in order of adding")

	_, err = s.w.ExecContext(ctx, "UPDATE attachments SET sha256 = CASE id WHEN ? THEN ? ELSE ? END WHERE id IN (?, ?)",
		a.ID, b.SHA256, a.SHA256, a.ID, b.ID)
	require.NoError(t, err)
	atts, err := s.Attachments(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, atts, 2)
	for _, at := range atts {
		_, err := s.AttachmentData(ctx, key, at)
		assert.ErrorIs(t, err, ErrDecrypt, "attachment %d opened with another row's bytes", at.ID)
	}

	// Exchanging everything the rows hold but their ids is refused as well: the id is bound.
	_, err = s.w.ExecContext(ctx, `UPDATE attachments SET ad_version = 2, sha256 = CASE id WHEN ? THEN ? ELSE ? END WHERE id IN (?, ?)`,
		a.ID, a.SHA256, b.SHA256, a.ID, b.ID) // back as they were
	require.NoError(t, err)
	got, err := s.AttachmentData(ctx, key, a)
	require.NoError(t, err)
	assert.Equal(t, "scan one", string(got))
	_, err = s.w.ExecContext(ctx, "UPDATE attachments SET id = -id WHERE id = ?", a.ID)
	require.NoError(t, err)
	_, err = s.w.ExecContext(ctx, "UPDATE attachments SET id = ? WHERE id = ?", a.ID, b.ID)
	require.NoError(t, err)
	_, err = s.w.ExecContext(ctx, "UPDATE attachments SET id = ? WHERE id = ?", b.ID, -a.ID)
	require.NoError(t, err)
	atts, err = s.Attachments(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, atts, 2)
	for _, at := range atts {
		_, err := s.AttachmentData(ctx, key, at)
		assert.ErrorIs(t, err, ErrDecrypt, "row %d opened after the rows were exchanged", at.ID)
	}
	// A row set back to the old format does not open either.
	_, err = s.w.ExecContext(ctx, "UPDATE attachments SET ad_version = 0")
	require.NoError(t, err)
	atts, err = s.Attachments(ctx, "c1")
	require.NoError(t, err)
	_, err = s.AttachmentData(ctx, key, atts[0])
	assert.ErrorIs(t, err, ErrDecrypt)
}

// A step saved twice: copying the first ciphertext back into the row is refused, and so is
// copying it together with its old version number into a row that moved on.
func TestRolledBackStepRefused(t *testing.T) {
	s, _ := newTestStore(t)
	key := newKey(t)
	ctx := t.Context()
	require.NoError(t, s.CreateDraft(ctx, NewCase{ID: "c1", Service: "personalausweis"}))
	require.NoError(t, s.SaveStep(ctx, key, "c1", "payment", []byte(`{"paid":false}`)))
	var old []byte
	require.NoError(t, s.w.QueryRowContext(ctx, "SELECT data FROM steps WHERE case_id='c1' AND name='payment'").Scan(&old))
	require.NoError(t, s.SaveStep(ctx, key, "c1", "payment", []byte(`{"paid":true}`)))

	var version int64
	require.NoError(t, s.w.QueryRowContext(ctx, "SELECT version FROM steps WHERE case_id='c1' AND name='payment'").Scan(&version))
	assert.EqualValues(t, 2, version)

	_, err := s.w.ExecContext(ctx, "UPDATE steps SET data = ? WHERE case_id='c1' AND name='payment'", old)
	require.NoError(t, err)
	_, err = s.Steps(ctx, key, "c1")
	assert.ErrorIs(t, err, ErrDecrypt)

	// Another step's ciphertext moved into this one is refused too.
	require.NoError(t, s.SaveStep(ctx, key, "c1", "person", []byte(`{"name":"x"}`)))
	_, err = s.w.ExecContext(ctx, `UPDATE steps SET data = (SELECT data FROM steps WHERE name='person'),
		version = (SELECT version FROM steps WHERE name='person') WHERE case_id='c1' AND name='payment'`)
	require.NoError(t, err)
	_, err = s.Steps(ctx, key, "c1")
	assert.ErrorIs(t, err, ErrDecrypt)
}

// Rows written before the migration (version 0, no ref) are still read with the associated
// data they were written with, and the next save of such a step binds it.
func TestLegacyRowsStillOpen(t *testing.T) {
	s, _ := newTestStore(t)
	key := newKey(t)
	ctx := t.Context()
	require.NoError(t, s.CreateDraft(ctx, NewCase{ID: "c1", Service: "wohnsitzanmeldung"}))
	box, err := seal(key, []byte("old step"), []byte("step\x00c1\x00person"))
	require.NoError(t, err)
	_, err = s.w.ExecContext(ctx, "INSERT INTO steps(case_id, name, data, updated_at) VALUES ('c1','person',?,0)", box)
	require.NoError(t, err)
	steps, err := s.Steps(ctx, key, "c1")
	require.NoError(t, err)
	assert.Equal(t, "old step", string(steps["person"]))

	require.NoError(t, s.SaveStep(ctx, key, "c1", "person", []byte("new step")))
	steps, err = s.Steps(ctx, key, "c1")
	require.NoError(t, err)
	assert.Equal(t, "new step", string(steps["person"]))

	legacy := Attachment{CaseID: "c1", Kind: "scan"}
	abox, err := seal(key, []byte("old scan"), attachmentAD(legacy))
	require.NoError(t, err)
	sum, size, err := writeFileSync(s.blobs, func(sum string) string { return sum }, writeBytes(abox))
	require.NoError(t, err)
	_, err = s.w.ExecContext(ctx, "INSERT INTO attachments(case_id, kind, sha256, size, created_at) VALUES ('c1','scan',?,?,0)", sum, size)
	require.NoError(t, err)
	atts, err := s.Attachments(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, atts, 1)
	got, err := s.AttachmentData(ctx, key, atts[0])
	require.NoError(t, err)
	assert.Equal(t, "old scan", string(got))
}
