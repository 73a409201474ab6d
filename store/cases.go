package store

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Case states as stored. agent/cases owns the rules of moving between them; the store refuses
// writes whose precondition state does not hold (ErrState).
const (
	StateDraft     = "draft"
	StateSealed    = "sealed"
	StateUploading = "uploading"
	StateDelivered = "delivered"
	StatePurged    = "purged"
	StateCancelled = "cancelled"
)

// Case is a case as the queue shows it: ids, service, state and times, no personal data. It is
// also the wire type of the local API (localapi.Case), so a field added here is served to the
// CLI: never add personal data, and keep the JSON names (`koffer queue ls --json`).
type Case struct {
	ID          string    `json:"id"`
	Service     string    `json:"service"`
	State       string    `json:"state"`
	Late        bool      `json:"late,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"-"`
	SealedAt    time.Time `json:"sealed_at,omitzero"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`

	// From the outbox and receipts, when there are any.
	PacketSize    int64     `json:"packet_size,omitempty"`
	Attempts      int       `json:"attempts,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	Parked        string    `json:"parked,omitempty"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	ReceiptNumber string    `json:"receipt,omitempty"`
}

// NewCase is what CreateDraft and SealCase need to create a case row.
type NewCase struct {
	ID        string
	Service   string
	Late      bool
	CreatedAt time.Time // default now
	Actor     string    // caseworker id, or "cli"
	Digest    string    // keyed digest of a CLI submission (SubmitDigest), else empty
}

const caseColumns = `c.id, c.service, c.state, c.late, c.created_at, c.updated_at, c.sealed_at, c.delivered_at,
	COALESCE(o.size, 0), COALESCE(o.attempts, 0), COALESCE(o.last_error, ''), COALESCE(o.parked_reason, ''),
	o.next_attempt_at, COALESCE(r.number, '')
	FROM cases c LEFT JOIN outbox o ON o.case_id = c.id LEFT JOIN receipts r ON r.case_id = c.id`

func scanCase(sc interface{ Scan(...any) error }) (*Case, error) {
	var c Case
	var created, updated int64
	var sealed, delivered, next sql.NullInt64
	err := sc.Scan(&c.ID, &c.Service, &c.State, &c.Late, &created, &updated, &sealed, &delivered,
		&c.PacketSize, &c.Attempts, &c.LastError, &c.Parked, &next, &c.ReceiptNumber)
	if err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	c.SealedAt, c.DeliveredAt, c.NextAttemptAt = nullMS(sealed), nullMS(delivered), nullMS(next)
	return &c, nil
}

// Case returns one case, ErrNotFound if there is none with that id.
func (s *Store) Case(ctx context.Context, id string) (*Case, error) {
	c, err := scanCase(s.r.QueryRowContext(ctx, "SELECT "+caseColumns+" WHERE c.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", id, err)
	}
	return c, nil
}

// Cases lists cases in the given states (all when none given), oldest first.
func (s *Store) Cases(ctx context.Context, states ...string) ([]Case, error) {
	q := "SELECT " + caseColumns
	args := make([]any, len(states))
	if len(states) > 0 {
		q += " WHERE c.state IN (?" + strings.Repeat(",?", len(states)-1) + ")"
		for i, st := range states {
			args[i] = st
		}
	}
	q += " ORDER BY c.created_at, c.id"
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	defer rows.Close()
	var out []Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, fmt.Errorf("list cases: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

func (s *Store) insertCase(ctx context.Context, tx *sql.Tx, c NewCase, state string) error {
	now := s.now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	res, err := tx.ExecContext(ctx,
		"INSERT INTO cases(id, service, state, late, created_at, updated_at, submit_digest) VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
		c.ID, c.Service, state, c.Late, ms(c.CreatedAt), ms(now), c.Digest)
	if err != nil {
		return fmt.Errorf("insert case: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("insert case: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("case %s: %w", c.ID, ErrExists)
	}
	return s.appendAudit(ctx, tx, EventCaseCreated, c.ID, c.Actor)
}

// CreateDraft creates a case in state draft.
func (s *Store) CreateDraft(ctx context.Context, c NewCase) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.insertCase(ctx, tx, c, StateDraft) })
}

// SubmitDigest returns the digest a case was submitted with (NewCase.Digest), or ErrNotFound.
func (s *Store) SubmitDigest(ctx context.Context, id string) (string, error) {
	var d string
	err := s.r.QueryRowContext(ctx, "SELECT submit_digest FROM cases WHERE id = ?", id).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("case %s: %w", id, err)
	}
	return d, nil
}

// requireState checks the case's state inside tx.
func requireState(ctx context.Context, tx *sql.Tx, id string, allowed ...string) (string, error) {
	var st string
	err := tx.QueryRowContext(ctx, "SELECT state FROM cases WHERE id = ?", id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("case %s: %w", id, err)
	}
	for _, a := range allowed {
		if st == a {
			return st, nil
		}
	}
	return st, fmt.Errorf("case %s is %s: %w", id, st, ErrState)
}

// stepAD binds a step's ciphertext to its case, its name and its version (1, 2, ... one more
// at every save), so an older ciphertext copied back into the row no longer opens: a step
// cannot be rolled back. Version 0 is a row written before the version existed (read with the
// old associated data until its next save).
func stepAD(caseID, name string, version int64) []byte {
	if version == 0 {
		return []byte("step\x00" + caseID + "\x00" + name)
	}
	return []byte("step v2\x00" + caseID + "\x00" + name + "\x00" + strconv.FormatInt(version, 10))
}

// SaveStep stores one captured step of a draft, encrypted with the data key, durably: when it
// returns nil the step survives a power cut.
func (s *Store) SaveStep(ctx context.Context, key cipher.AEAD, caseID, name string, data []byte) error {
	if key == nil {
		return fmt.Errorf("save step: %w", ErrNoKey)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := requireState(ctx, tx, caseID, StateDraft); err != nil {
			return fmt.Errorf("save step: %w", err)
		}
		var version int64
		err := tx.QueryRowContext(ctx, "SELECT version FROM steps WHERE case_id = ? AND name = ?", caseID, name).Scan(&version)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("save step: %w", err)
		}
		version++
		box, err := seal(key, data, stepAD(caseID, name, version))
		if err != nil {
			return fmt.Errorf("save step: %w", err)
		}
		now := ms(s.now())
		_, err = tx.ExecContext(ctx, `INSERT INTO steps(case_id, name, data, updated_at, version) VALUES (?,?,?,?,?)
			ON CONFLICT(case_id, name) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at, version = excluded.version`,
			caseID, name, box, now, version)
		if err != nil {
			return fmt.Errorf("save step: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE cases SET updated_at = ? WHERE id = ?", now, caseID); err != nil {
			return fmt.Errorf("save step: %w", err)
		}
		return s.appendAudit(ctx, tx, EventStepSaved, caseID, "")
	})
}

// Steps returns the decrypted steps of a case by name.
func (s *Store) Steps(ctx context.Context, key cipher.AEAD, caseID string) (map[string][]byte, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT name, data, version FROM steps WHERE case_id = ?", caseID)
	if err != nil {
		return nil, fmt.Errorf("steps: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var name string
		var box []byte
		var version int64
		if err := rows.Scan(&name, &box, &version); err != nil {
			return nil, fmt.Errorf("steps: %w", err)
		}
		plain, err := open(key, box, stepAD(caseID, name, version))
		if err != nil {
			return nil, fmt.Errorf("steps: %w", err)
		}
		out[name] = plain
	}
	return out, rows.Err()
}

// Attachment is a file of a draft case (scan, fingerprint, signature, photo).
type Attachment struct {
	ID        int64
	CaseID    string
	Kind      string
	Finger    string
	ADVersion int    // 2: the id is bound in the associated data; 0: a row from before that
	SHA256    string // of the stored, encrypted file
	Size      int64
	CreatedAt time.Time
}

// Biometric reports whether the attachment must go as soon as the town hall has the packet:
// fingerprints and the photo taken on site (a face image is biometric data too).
func (a Attachment) Biometric() bool { return a.Kind == "fingerprint" || a.Kind == "photo" }

// attachmentAD binds an attachment's ciphertext to its case, kind, finger and its own row id,
// under a format version: two scans of one case cannot be swapped by exchanging what their
// rows hold. A row of version 0 was written before and is read with the old associated data.
func attachmentAD(a Attachment) []byte {
	if a.ADVersion == 0 {
		return []byte("attachment\x00" + a.CaseID + "\x00" + a.Kind + "\x00" + a.Finger)
	}
	return []byte("attachment v2\x00" + a.CaseID + "\x00" + a.Kind + "\x00" + a.Finger + "\x00" + strconv.FormatInt(a.ID, 10))
}

// AddAttachment encrypts data with the data key, writes it as blobs/<sha256> (fsynced, file and
// directory) and only then commits the row that names it. The row id is taken first (from a
// counter in the kit table) because the ciphertext names it.
func (s *Store) AddAttachment(ctx context.Context, key cipher.AEAD, a Attachment, data []byte) (Attachment, error) {
	if key == nil {
		return a, fmt.Errorf("add attachment: %w", ErrNoKey)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO kit(key, value)
			VALUES ('attachment_seq', CAST((SELECT coalesce(max(id), 0) FROM attachments) AS TEXT))
			ON CONFLICT(key) DO NOTHING`); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `UPDATE kit SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)
			WHERE key = 'attachment_seq' RETURNING CAST(value AS INTEGER)`).Scan(&a.ID)
	})
	if err != nil {
		return a, fmt.Errorf("add attachment: id: %w", err)
	}
	a.ADVersion = 2
	box, err := seal(key, data, attachmentAD(a))
	if err != nil {
		return a, fmt.Errorf("add attachment: %w", err)
	}
	sum, size, err := writeFileSync(s.blobs, func(sum string) string { return sum }, func(w io.Writer) error {
		_, err := w.Write(box)
		return err
	})
	if err != nil {
		return a, fmt.Errorf("add attachment: %w", err)
	}
	a.SHA256, a.Size, a.CreatedAt = sum, size, s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := requireState(ctx, tx, a.CaseID, StateDraft); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO attachments(id, case_id, kind, finger, ad_version, sha256, size, created_at) VALUES (?,?,?,?,?,?,?,?)",
			a.ID, a.CaseID, a.Kind, a.Finger, a.ADVersion, a.SHA256, a.Size, ms(a.CreatedAt))
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventAttachmentAdd, a.CaseID, "")
	})
	if err != nil {
		// The file stays until RemoveOrphans: another row may name the same bytes.
		return a, fmt.Errorf("add attachment: %w", err)
	}
	return a, nil
}

// Attachments lists the attachments of a case.
func (s *Store) Attachments(ctx context.Context, caseID string) ([]Attachment, error) {
	return s.queryAttachments(ctx, "WHERE case_id = ?", caseID)
}

// queryAttachments lists the attachments a WHERE clause selects, in order of id.
func (s *Store) queryAttachments(ctx context.Context, where string, args ...any) ([]Attachment, error) {
	rows, err := s.r.QueryContext(ctx,
		"SELECT id, case_id, kind, finger, ad_version, sha256, size, created_at FROM attachments "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	defer rows.Close()
	var out []Attachment
	for rows.Next() {
		var a Attachment
		var at int64
		if err := rows.Scan(&a.ID, &a.CaseID, &a.Kind, &a.Finger, &a.ADVersion, &a.SHA256, &a.Size, &at); err != nil {
			return nil, fmt.Errorf("attachments: %w", err)
		}
		a.CreatedAt = fromMS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// AttachmentData reads and decrypts an attachment's bytes.
func (s *Store) AttachmentData(ctx context.Context, key cipher.AEAD, a Attachment) ([]byte, error) {
	box, err := readFile(filepath.Join(s.blobs, a.SHA256))
	if err != nil {
		return nil, fmt.Errorf("attachment data: %w", err)
	}
	plain, err := open(key, box, attachmentAD(a))
	if err != nil {
		return nil, fmt.Errorf("attachment data: %w", err)
	}
	return plain, nil
}

// Cancel ends a draft without sending it; its steps and attachments are deleted.
func (s *Store) Cancel(ctx context.Context, caseID, actor string) error {
	return s.cancel(ctx, caseID, actor, EventCaseCancelled)
}

var reasonCode = regexp.MustCompile(`^[a-z][a-z-]{0,31}$`)

// Discard is Cancel by a caseworker, for a reason: a code (never free text, so the audit entry,
// "case.discarded.<reason>", holds ids and names of events only).
func (s *Store) Discard(ctx context.Context, caseID, actor, reason string) error {
	if !reasonCode.MatchString(reason) {
		return fmt.Errorf("discard: reason %q is no reason code", reason)
	}
	return s.cancel(ctx, caseID, actor, EventCaseDiscarded+"."+reason)
}

func (s *Store) cancel(ctx context.Context, caseID, actor, event string) error {
	var files []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := requireState(ctx, tx, caseID, StateDraft); err != nil {
			return err
		}
		var err error
		if files, err = deleteAttachments(ctx, tx, caseID, false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM steps WHERE case_id = ?", caseID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE cases SET state = ?, updated_at = ? WHERE id = ?",
			StateCancelled, ms(s.now()), caseID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, event, caseID, actor)
	})
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	return s.removeBlobs(ctx, files)
}

// Purge removes what is left of a delivered case (steps, attachments); the row stays, ids only.
func (s *Store) Purge(ctx context.Context, caseID string) error {
	var files []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := requireState(ctx, tx, caseID, StateDelivered); err != nil {
			return err
		}
		var err error
		if files, err = deleteAttachments(ctx, tx, caseID, false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM steps WHERE case_id = ?", caseID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE cases SET state = ?, updated_at = ? WHERE id = ?",
			StatePurged, ms(s.now()), caseID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventCasePurged, caseID, "kit")
	})
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	return s.removeBlobs(ctx, files)
}

// deleteAttachments deletes the case's attachment rows (only biometric ones if biometricOnly)
// and returns the blob names they held.
func deleteAttachments(ctx context.Context, tx *sql.Tx, caseID string, biometricOnly bool) ([]string, error) {
	q := "DELETE FROM attachments WHERE case_id = ?"
	if biometricOnly {
		q += " AND kind IN ('fingerprint', 'photo')"
	}
	rows, err := tx.QueryContext(ctx, q+" RETURNING sha256", caseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// removeBlobs deletes blob files no longer named by any row.
func (s *Store) removeBlobs(ctx context.Context, names []string) error {
	var gone []string
	for _, n := range names {
		var used int
		if err := s.w.QueryRowContext(ctx, "SELECT count(*) FROM attachments WHERE sha256 = ?", n).Scan(&used); err != nil {
			return fmt.Errorf("remove blobs: %w", err)
		}
		if used == 0 {
			gone = append(gone, n)
		}
	}
	if err := removeFiles(s.blobs, gone); err != nil {
		return fmt.Errorf("remove blobs: %w", err)
	}
	return nil
}

// DeliveredBefore lists the ids of delivered (not yet purged) cases delivered before t.
func (s *Store) DeliveredBefore(ctx context.Context, t time.Time) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id FROM cases WHERE state = ? AND delivered_at < ? ORDER BY delivered_at", StateDelivered, ms(t))
	if err != nil {
		return nil, fmt.Errorf("delivered cases: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("delivered cases: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
