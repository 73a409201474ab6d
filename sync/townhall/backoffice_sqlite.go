package townhall

// The back office's records in the embedded SQLite store (migrations/0005_backoffice.sql).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (s *sqliteStore) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil) // _txlock=immediate: the write lock is taken here
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// execAudited runs an insert or update and appends audit when it changed a row.
func execAudited(ctx context.Context, tx *sql.Tx, audit AuditRecord, q string, args ...any) (bool, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	return true, sqliteAppendAudit(ctx, tx, audit)
}

func (s *sqliteStore) CaseListings(ctx context.Context, f CaseFilter) ([]CaseListing, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.case_id, c.number, c.service, c.kit_id, c.received_at, c.size,
			COALESCE(f.late, -1), COALESCE(f.applied_at, ''),
			COALESCE((SELECT a.actor FROM audit a WHERE a.kit_id = c.kit_id AND a.case_id = c.case_id ORDER BY a.seq LIMIT 1), ''),
			COALESCE(h.at, ''), COALESCE(h.actor, ''), COALESCE(d.at, '')
		FROM cases c
		LEFT JOIN case_facts f ON f.case_id = c.case_id
		LEFT JOIN handovers h ON h.case_id = c.case_id
		LEFT JOIN fingerprint_deletions d ON d.case_id = c.case_id
		WHERE (? = '' OR c.kit_id = ?) AND (? = '' OR c.service = ?)
		ORDER BY c.seq`, f.Kit, f.Kit, f.Service, f.Service)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	defer rows.Close()
	var out []CaseListing
	for rows.Next() {
		var c CaseListing
		var received, applied, handed, deleted string
		var late int
		if err := rows.Scan(&c.CaseID, &c.Number, &c.Service, &c.Kit, &received, &c.Size, &late, &applied,
			&c.Caseworker, &handed, &c.HandedOverBy, &deleted); err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		c.ReceivedAt = parseTime(received)
		c.AppliedAt = parseTime(applied)
		c.HandedOverAt = parseTime(handed)
		c.FingerprintsDeletedAt = parseTime(deleted)
		c.Late, c.FactsKnown = late == 1, late >= 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return out, nil
}

func (s *sqliteStore) AddCaseFacts(ctx context.Context, caseID string, late bool, appliedAt time.Time) error {
	l := 0
	if late {
		l = 1
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO case_facts (case_id, late, applied_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		caseID, l, formatTime(appliedAt))
	if err != nil {
		return fmt.Errorf("case facts: %w", err)
	}
	return nil
}

func (s *sqliteStore) AddHandover(ctx context.Context, h Handover, audit AuditRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := execAudited(ctx, tx, audit, `INSERT INTO handovers (case_id, at, actor, target) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			h.CaseID, formatTime(h.At), h.Actor, h.Target)
		return err
	})
}

func (s *sqliteStore) FingerprintsDeleted(ctx context.Context, caseID string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM fingerprint_deletions WHERE case_id = ?`, caseID).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

func (s *sqliteStore) AddFingerprintDeletion(ctx context.Context, d FingerprintDeletion, audit AuditRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := execAudited(ctx, tx, audit, `INSERT INTO fingerprint_deletions (case_id, at, actor, rule, parts) VALUES (?, ?, ?, ?, ?)`,
			d.CaseID, formatTime(d.At), d.Actor, d.Rule, d.Parts)
		return err
	})
}

func (s *sqliteStore) Fleet(ctx context.Context) ([]KitStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT k.id, k.url, k.enrolled_at,
			COALESCE(c.last_contact, ''), COALESCE(c.cert_not_after, ''), COALESCE(c.version, ''),
			(SELECT COUNT(*) FROM cases x WHERE x.kit_id = k.id),
			COALESCE((SELECT MAX(x.received_at) FROM cases x WHERE x.kit_id = k.id), ''),
			COALESCE(r.at, ''), COALESCE(r.actor, ''), COALESCE(r.reason, ''), COALESCE(r.allowed_by, ''),
			COALESCE(q.reported_at, ''), COALESCE(q.depth, 0), COALESCE(q.parked, 0), COALESCE(q.oldest_since, '')
		FROM kits k LEFT JOIN kit_contact c ON c.kit_id = k.id LEFT JOIN revocations r ON r.kit_id = k.id
			LEFT JOIN kit_queue q ON q.kit_id = k.id
		ORDER BY k.id`)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	defer rows.Close()
	var out []KitStatus
	for rows.Next() {
		var k KitStatus
		var enrolled, contact, notAfter, lastCase, revoked, reported, oldest string
		if err := rows.Scan(&k.ID, &k.URL, &enrolled, &contact, &notAfter, &k.Version, &k.Received, &lastCase,
			&revoked, &k.RevokedBy, &k.RevokeReason, &k.AllowedBy, &reported, &k.QueueDepth, &k.Parked, &oldest); err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
		k.EnrolledAt, k.LastContact, k.CertNotAfter = parseTime(enrolled), parseTime(contact), parseTime(notAfter)
		k.LastCase, k.RevokedAt = parseTime(lastCase), parseTime(revoked)
		k.QueueReportedAt, k.OldestWaiting = parseTime(reported), parseTime(oldest)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *sqliteStore) NoteContact(ctx context.Context, c KitContact) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO kit_contact (kit_id, last_contact, cert_not_after, version) VALUES (?, ?, ?, ?)
		ON CONFLICT (kit_id) DO UPDATE SET last_contact = excluded.last_contact, cert_not_after = excluded.cert_not_after,
			version = excluded.version
		WHERE kit_contact.last_contact < ? OR kit_contact.version <> excluded.version`,
		c.KitID, formatTime(c.At), formatTime(c.CertNotAfter), c.Version, formatTime(c.At.Add(-time.Minute)))
	if err != nil {
		return fmt.Errorf("kit contact: %w", err)
	}
	return nil
}

func (s *sqliteStore) SetKitQueue(ctx context.Context, q KitQueue) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO kit_queue (kit_id, reported_at, depth, parked, oldest_since) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kit_id) DO UPDATE SET reported_at = excluded.reported_at, depth = excluded.depth,
			parked = excluded.parked, oldest_since = excluded.oldest_since`,
		q.KitID, formatTime(q.At), q.Depth, q.Parked, formatTime(q.OldestSince))
	if err != nil {
		return fmt.Errorf("kit queue: %w", err)
	}
	return nil
}

func (s *sqliteStore) Revoke(ctx context.Context, r Revocation, audit AuditRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := execAudited(ctx, tx, audit, `INSERT INTO revocations (kit_id, at, actor, reason) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			r.KitID, formatTime(r.At), r.Actor, r.Reason)
		return err
	})
}

func (s *sqliteStore) Revocation(ctx context.Context, kitID string) (Revocation, bool, error) {
	r := Revocation{KitID: kitID}
	var at, allowedAt string
	err := s.db.QueryRowContext(ctx, `SELECT at, actor, reason, allowed_at, allowed_by FROM revocations WHERE kit_id = ?`, kitID).
		Scan(&at, &r.Actor, &r.Reason, &allowedAt, &r.AllowedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return Revocation{}, false, nil
	}
	if err != nil {
		return Revocation{}, false, fmt.Errorf("revocation: %w", err)
	}
	r.At, r.AllowedAt = parseTime(at), parseTime(allowedAt)
	return r, true, nil
}

func (s *sqliteStore) AllowSealedBeforeRevocation(ctx context.Context, kitID string, audit AuditRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		changed, err := execAudited(ctx, tx, audit, `UPDATE revocations SET allowed_at = ?, allowed_by = ? WHERE kit_id = ? AND allowed_at = ''`,
			formatTime(audit.At), audit.Actor, kitID)
		if err == nil && !changed {
			return fmt.Errorf("kit %s: not revoked or allowed already: %w", kitID, ErrNotFound)
		}
		return err
	})
}

func (s *sqliteStore) AddStaff(ctx context.Context, st Staff, audit AuditRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		changed, err := execAudited(ctx, tx, audit, `INSERT INTO staff (name, role, hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			st.Name, st.Role, st.Hash, formatTime(st.CreatedAt))
		if err != nil {
			return fmt.Errorf("add staff: %w", err)
		}
		if !changed {
			return fmt.Errorf("staff %s: %w", st.Name, ErrExists)
		}
		return nil
	})
}

func (s *sqliteStore) Staff(ctx context.Context, name string) (Staff, error) {
	st := Staff{Name: name}
	var at string
	err := s.db.QueryRowContext(ctx, `SELECT role, hash, created_at FROM staff WHERE name = ?`, name).Scan(&st.Role, &st.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Staff{}, fmt.Errorf("staff %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Staff{}, fmt.Errorf("staff: %w", err)
	}
	st.CreatedAt = parseTime(at)
	return st, nil
}

func (s *sqliteStore) AppendAudit(ctx context.Context, e AuditRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return sqliteAppendAudit(ctx, tx, e) })
}

func sqliteAppendAudit(ctx context.Context, tx *sql.Tx, e AuditRecord) error {
	var seq int64
	var prev []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM townhall_audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit: %w", err)
	}
	c := chainAudit(seq, prev, e)
	_, err = tx.ExecContext(ctx, `INSERT INTO townhall_audit (seq, at, actor, event, case_id, kit_id, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.Seq, formatTime(c.At), c.Actor, c.Event, c.CaseID, c.KitID, c.Detail, c.PrevHash, c.Hash)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func (s *sqliteStore) TownhallAudit(ctx context.Context, limit int) ([]AuditRecord, error) {
	cs, err := s.townhallAudit(ctx, `ORDER BY seq DESC LIMIT ?`, limit)
	out := make([]AuditRecord, len(cs))
	for i, c := range cs {
		out[i] = c.AuditRecord
	}
	return out, err
}

func (s *sqliteStore) TownhallAuditChain(ctx context.Context) ([]ChainedAuditRecord, error) {
	return s.townhallAudit(ctx, `ORDER BY seq`)
}

func (s *sqliteStore) KitAuditEvents(ctx context.Context, event, kitID string) ([]AuditRecord, error) {
	cs, err := s.townhallAudit(ctx, `WHERE event = ? AND kit_id = ? ORDER BY seq`, event, kitID)
	out := make([]AuditRecord, len(cs))
	for i, c := range cs {
		out[i] = c.AuditRecord
	}
	return out, err
}

func (s *sqliteStore) townhallAudit(ctx context.Context, order string, args ...any) ([]ChainedAuditRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, actor, event, case_id, kit_id, detail, prev_hash, hash FROM townhall_audit `+order, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []ChainedAuditRecord
	for rows.Next() {
		var e ChainedAuditRecord
		var at string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Event, &e.CaseID, &e.KitID, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		e.At = parseTime(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
