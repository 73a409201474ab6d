package store

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/chacha20poly1305"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestStore(t *testing.T) (*Store, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	s, err := Open(t.Context(), t.TempDir(), Options{Now: c.now})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, c
}

func newKey(t *testing.T) cipher.AEAD {
	t.Helper()
	k := make([]byte, chacha20poly1305.KeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	a, err := chacha20poly1305.NewX(k)
	require.NoError(t, err)
	return a
}

func writeBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

func TestOpenTwiceMigratesOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), dir, Options{})
	require.NoError(t, err)
	require.NoError(t, s.CreateDraft(t.Context(), NewCase{ID: "a", Service: "meldebescheinigung"}))
	require.NoError(t, s.Close())

	s, err = Open(t.Context(), dir, Options{})
	require.NoError(t, err)
	defer s.Close()
	c, err := s.Case(t.Context(), "a")
	require.NoError(t, err)
	assert.Equal(t, StateDraft, c.State)
	assert.NoError(t, s.IntegrityCheck(t.Context()))

	var mode string
	require.NoError(t, s.w.QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var syncMode int
	require.NoError(t, s.w.QueryRow("PRAGMA synchronous").Scan(&syncMode))
	assert.Equal(t, 2, syncMode, "synchronous=FULL")
	var fk int
	require.NoError(t, s.r.QueryRow("PRAGMA foreign_keys").Scan(&fk))
	assert.Equal(t, 1, fk)
	for _, name := range []string{DBName, DBName + "-wal", DBName + "-shm"} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), name)
	}
}

func TestStepsEncrypted(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	key := newKey(t)
	require.NoError(t, s.CreateDraft(ctx, NewCase{ID: "c1", Service: "personalausweis"}))
	secret := []byte(`{"family_name":"Musterfrau-Geheim"}`)
	require.NoError(t, s.SaveStep(ctx, key, "c1", "person", secret))

	got, err := s.Steps(ctx, key, "c1")
	require.NoError(t, err)
	assert.Equal(t, secret, got["person"])

	_, err = s.Steps(ctx, newKey(t), "c1")
	assert.ErrorIs(t, err, ErrDecrypt)
	_, err = s.Steps(ctx, nil, "c1")
	assert.ErrorIs(t, err, ErrNoKey)

	err = s.SaveStep(ctx, key, "nope", "person", secret)
	assert.ErrorIs(t, err, ErrNotFound)

	assertNotInDir(t, s.Dir(), []byte("Musterfrau-Geheim"))
}

func assertNotInDir(t *testing.T, dir string, needle []byte) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assert.False(t, bytes.Contains(b, needle), "%s holds %q", p, needle)
		return nil
	}))
}

func TestAttachmentsAndDelivery(t *testing.T) {
	s, c := newTestStore(t)
	ctx := t.Context()
	key := newKey(t)
	require.NoError(t, s.CreateDraft(ctx, NewCase{ID: "c1", Service: "personalausweis"}))
	fp, err := s.AddAttachment(ctx, key, Attachment{CaseID: "c1", Kind: "fingerprint", Finger: "right_index"}, []byte("FIR-ridges"))
	require.NoError(t, err)
	sig, err := s.AddAttachment(ctx, key, Attachment{CaseID: "c1", Kind: "signature"}, []byte("PNG-signature"))
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(s.Dir(), BlobsDir, fp.SHA256))

	data, err := s.AttachmentData(ctx, key, fp)
	require.NoError(t, err)
	assert.Equal(t, []byte("FIR-ridges"), data)
	assertNotInDir(t, s.Dir(), []byte("FIR-ridges"))

	_, err = s.AddAttachment(ctx, key, Attachment{CaseID: "c1", Kind: "nonsense"}, []byte("x"))
	assert.Error(t, err, "the kind check holds")

	item, err := s.SealCase(ctx, NewCase{ID: "c1", Service: "personalausweis"}, writeBytes([]byte("sealed-bytes")))
	require.NoError(t, err)
	assert.Equal(t, int64(len("sealed-bytes")), item.Size)
	assert.FileExists(t, item.PacketPath)

	_, err = s.SealCase(ctx, NewCase{ID: "c1", Service: "personalausweis"}, writeBytes([]byte("again")))
	assert.ErrorIs(t, err, ErrExists)
	ents, err := os.ReadDir(filepath.Join(s.Dir(), PacketsDir))
	require.NoError(t, err)
	assert.Len(t, ents, 1, "the refused packet file is removed")

	_, err = s.AddAttachment(ctx, key, Attachment{CaseID: "c1", Kind: "scan"}, []byte("late"))
	assert.ErrorIs(t, err, ErrState)

	require.NoError(t, s.SetUploadURL(ctx, "c1", "https://townhall.example/files/1"))
	cs, err := s.Case(ctx, "c1")
	require.NoError(t, err)
	assert.Equal(t, StateUploading, cs.State)

	c.advance(time.Minute)
	r := Receipt{Number: "TH-2026-0001", Time: c.t, Raw: []byte("signed")}
	require.NoError(t, s.Deliver(ctx, "c1", r))
	require.NoError(t, s.Deliver(ctx, "c1", r), "same receipt twice is a no-op")
	assert.ErrorIs(t, s.Deliver(ctx, "c1", Receipt{Number: "other"}), ErrState)

	assert.NoFileExists(t, item.PacketPath)
	assert.NoFileExists(t, filepath.Join(s.Dir(), BlobsDir, fp.SHA256), "biometrics go at delivery")
	assert.FileExists(t, filepath.Join(s.Dir(), BlobsDir, sig.SHA256))
	atts, err := s.Attachments(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, atts, 1)
	assert.Equal(t, "signature", atts[0].Kind)

	cs, err = s.Case(ctx, "c1")
	require.NoError(t, err)
	assert.Equal(t, StateDelivered, cs.State)
	assert.Equal(t, "TH-2026-0001", cs.ReceiptNumber)
	got, err := s.Receipt(ctx, "c1")
	require.NoError(t, err)
	assert.Equal(t, r.Raw, got.Raw)

	require.NoError(t, s.Purge(ctx, "c1"))
	assert.NoFileExists(t, filepath.Join(s.Dir(), BlobsDir, sig.SHA256))
	cs, err = s.Case(ctx, "c1")
	require.NoError(t, err)
	assert.Equal(t, StatePurged, cs.State)
	assert.NoError(t, s.VerifyAudit(ctx))
}

func TestOutboxScheduling(t *testing.T) {
	s, c := newTestStore(t)
	ctx := t.Context()

	_, err := s.NextOutbox(ctx, c.t)
	var nd *NotDueError
	require.ErrorAs(t, err, &nd)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.True(t, nd.Next.IsZero())

	for _, id := range []string{"a", "b", "c"} {
		_, err := s.SealCase(ctx, NewCase{ID: id, Service: "wohnsitzanmeldung"}, writeBytes([]byte("packet "+id)))
		require.NoError(t, err)
		c.advance(time.Second)
	}
	it, err := s.NextOutbox(ctx, c.t)
	require.NoError(t, err)
	assert.Equal(t, "a", it.CaseID, "oldest first")
	assert.Equal(t, "wohnsitzanmeldung", it.Service)

	retry := c.t.Add(time.Minute)
	require.NoError(t, s.RecordAttemptFailure(ctx, "a", "dial tcp: connection refused", retry))
	require.NoError(t, s.Park(ctx, "b", "rejected: bad signature"))
	it, err = s.NextOutbox(ctx, c.t)
	require.NoError(t, err)
	assert.Equal(t, "c", it.CaseID, "a backs off, b is parked")

	require.NoError(t, s.Deliver(ctx, "c", Receipt{Number: "1", Time: c.t}))
	_, err = s.NextOutbox(ctx, c.t)
	require.ErrorAs(t, err, &nd)
	assert.Equal(t, retry.UnixMilli(), nd.Next.UnixMilli())

	it, err = s.NextOutbox(ctx, retry)
	require.NoError(t, err)
	assert.Equal(t, "a", it.CaseID)
	assert.Equal(t, 1, it.Attempts)
	assert.Equal(t, "dial tcp: connection refused", it.LastError)

	require.NoError(t, s.Unpark(ctx, "b"))
	it, err = s.NextOutbox(ctx, c.t)
	require.NoError(t, err)
	assert.Equal(t, "b", it.CaseID, "unparked and due at once")
	require.NoError(t, s.Park(ctx, "b", "rejected: bad signature"))

	assert.ErrorIs(t, s.RecordAttemptFailure(ctx, "c", "x", retry), ErrNotFound, "delivered rows are done")

	st, err := s.QueueStats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Depth)
	assert.Equal(t, 1, st.Parked)
	assert.Equal(t, 1, st.Delivered)
	assert.Equal(t, "a", st.OldestCaseID)
	assert.Equal(t, 3*time.Second, st.OldestAge)
}

func TestRemoveOrphans(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	_, err := s.SealCase(ctx, NewCase{ID: "kept", Service: "meldebescheinigung"}, writeBytes([]byte("kept")))
	require.NoError(t, err)
	// What a crash between fsync and commit leaves behind.
	orphan := filepath.Join(s.Dir(), PacketsDir, "deadbeef.age")
	require.NoError(t, os.WriteFile(orphan, []byte("x"), 0o600))
	tmp := filepath.Join(s.Dir(), BlobsDir, ".tmp-123")
	require.NoError(t, os.WriteFile(tmp, []byte("x"), 0o600))

	n, err := s.RemoveOrphans(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.NoFileExists(t, orphan)
	assert.NoFileExists(t, tmp)
	it, err := s.Outbox(ctx, "kept")
	require.NoError(t, err)
	assert.FileExists(t, it.PacketPath)
}

func TestAuditChain(t *testing.T) {
	s, c := newTestStore(t)
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		require.NoError(t, s.CreateDraft(ctx, NewCase{ID: id, Service: "lebensbescheinigung", Actor: "1"}))
		c.advance(time.Second)
	}
	require.NoError(t, s.Audit(ctx, "caseworker.login", "", "1"))
	require.NoError(t, s.VerifyAudit(ctx))

	_, err := s.w.ExecContext(ctx, "UPDATE audit SET event = 'x'")
	require.Error(t, err, "the trigger keeps the log append-only")
	_, err = s.w.ExecContext(ctx, "DELETE FROM audit")
	require.Error(t, err)

	// Someone with the file and sqlite3 drops the triggers and edits an entry.
	_, err = s.w.ExecContext(ctx, "DROP TRIGGER audit_no_update")
	require.NoError(t, err)
	_, err = s.w.ExecContext(ctx, "UPDATE audit SET case_id = 'z' WHERE seq = 2")
	require.NoError(t, err)
	err = s.VerifyAudit(ctx)
	assert.ErrorIs(t, err, ErrAuditBroken)
	assert.Contains(t, err.Error(), "entry 2")
}

func TestCaseworkersAndVisitPacks(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	_, err := s.AddCaseworker(ctx, "mmeier", []byte("wrapped"))
	require.NoError(t, err)
	_, err = s.AddCaseworker(ctx, "mmeier", []byte("other"))
	assert.ErrorIs(t, err, ErrExists)
	cw, err := s.Caseworker(ctx, "mmeier")
	require.NoError(t, err)
	assert.Equal(t, []byte("wrapped"), cw.Wrapped)
	_, err = s.Caseworker(ctx, "nobody")
	assert.ErrorIs(t, err, ErrNotFound)
	n, err := s.CaseworkerCount(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	key := newKey(t)
	require.NoError(t, s.PutVisitPack(ctx, key, VisitPack{ID: "v1", VisitDate: "2026-03-03"}, []byte("Register-Auszug-Geheim")))
	got, err := s.VisitPackData(ctx, key, "v1")
	require.NoError(t, err)
	assert.Equal(t, []byte("Register-Auszug-Geheim"), got)
	_, err = s.VisitPackData(ctx, newKey(t), "v1")
	assert.ErrorIs(t, err, ErrDecrypt)
	packs, err := s.VisitPacks(ctx)
	require.NoError(t, err)
	require.Len(t, packs, 1)
	assert.Equal(t, "2026-03-03", packs[0].VisitDate)
	assertNotInDir(t, s.Dir(), []byte("Register-Auszug-Geheim"))
	require.NoError(t, s.DeleteVisitPack(ctx, "v1"))
	_, err = s.VisitPackData(ctx, key, "v1")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestCancelDraft(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	key := newKey(t)
	require.NoError(t, s.CreateDraft(ctx, NewCase{ID: "d", Service: "wohnsitzanmeldung"}))
	a, err := s.AddAttachment(ctx, key, Attachment{CaseID: "d", Kind: "scan"}, []byte("landlord"))
	require.NoError(t, err)
	require.NoError(t, s.Cancel(ctx, "d", "1"))
	assert.NoFileExists(t, filepath.Join(s.Dir(), BlobsDir, a.SHA256))
	assert.ErrorIs(t, s.Cancel(ctx, "d", "1"), ErrState)
	assert.ErrorIs(t, s.CreateDraft(ctx, NewCase{ID: "d", Service: "wohnsitzanmeldung"}), ErrExists)
}

// A full disk while the packet is written: the error names the cause, and the store is exactly
// as before (no case, no outbox row, no file).
func TestSealCaseDiskFull(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	_, err := s.SealCase(ctx, NewCase{ID: "x", Service: "meldebescheinigung"}, func(w io.Writer) error {
		if _, err := w.Write([]byte("half a packet")); err != nil {
			return err
		}
		return &os.PathError{Op: "write", Path: "packet", Err: syscall.ENOSPC}
	})
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.ErrorContains(t, err, "no space left on device")
	_, err = s.Case(ctx, "x")
	assert.ErrorIs(t, err, ErrNotFound)
	cs, err := s.Cases(ctx)
	require.NoError(t, err)
	assert.Empty(t, cs)
	ents, err := os.ReadDir(filepath.Join(s.Dir(), PacketsDir))
	require.NoError(t, err)
	assert.Empty(t, ents, "the partial packet is gone")
	st, err := s.QueueStats(ctx)
	require.NoError(t, err)
	assert.Zero(t, st.Depth)
}

func TestAuditCursor(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	n, err := s.AuditCursor(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	require.NoError(t, s.SetAuditCursor(ctx, 12))
	require.NoError(t, s.SetAuditCursor(ctx, 7))
	n, err = s.AuditCursor(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(12), n, "never moves back")
}

func TestDeliveredBefore(t *testing.T) {
	s, c := newTestStore(t)
	ctx := t.Context()
	for _, id := range []string{"old", "new"} {
		_, err := s.SealCase(ctx, NewCase{ID: id, Service: "meldebescheinigung"}, writeBytes([]byte(id)))
		require.NoError(t, err)
		require.NoError(t, s.Deliver(ctx, id, Receipt{Number: id}))
		c.advance(time.Hour)
	}
	ids, err := s.DeliveredBefore(ctx, c.t.Add(-90*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, []string{"old"}, ids)
}

func TestDiscardDraftAuditsReasonCode(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	key := newKey(t)
	require.NoError(t, s.CreateDraft(ctx, NewCase{ID: "d", Service: "wohnsitzanmeldung"}))
	a, err := s.AddAttachment(ctx, key, Attachment{CaseID: "d", Kind: "scan"}, []byte("landlord"))
	require.NoError(t, err)
	require.NoError(t, s.SaveStep(ctx, key, "d", "draft", []byte("Erika Mustermann")))
	require.Error(t, s.Discard(ctx, "d", "7", "Frau Mustermann wollte nicht"), "free text never reaches the audit log")
	require.NoError(t, s.Discard(ctx, "d", "7", "duplicate"))
	assert.NoFileExists(t, filepath.Join(s.Dir(), BlobsDir, a.SHA256))
	c, err := s.Case(ctx, "d")
	require.NoError(t, err)
	assert.Equal(t, StateCancelled, c.State)
	steps, err := s.Steps(ctx, key, "d")
	require.NoError(t, err)
	assert.Empty(t, steps)
	entries, err := s.AuditEntries(ctx, 0, 100)
	require.NoError(t, err)
	last := entries[len(entries)-1]
	assert.Equal(t, "case.discarded.duplicate", last.Event)
	assert.Equal(t, "d", last.CaseID)
	assert.Equal(t, "7", last.Actor)
	require.NoError(t, s.VerifyAudit(ctx))
}
