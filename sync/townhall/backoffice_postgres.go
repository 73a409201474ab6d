package townhall

// The back office's records on PostgreSQL (pgmigrations/0004_backoffice.sql), shared by every
// replica: a revocation written by one is refused by all.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgTime is a stored time for a nullable column: NULL for the zero time.
func pgTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// fromPG reads a nullable time; NULL is the zero time, shown as unknown.
func fromPG(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// execAudited runs an insert or update and appends audit when it changed a row.
func pgExecAudited(ctx context.Context, tx pgx.Tx, audit AuditRecord, q string, args ...any) (bool, error) {
	tag, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return true, pgAppendAudit(ctx, tx, audit)
}

func (s *pgStore) CaseListings(ctx context.Context, f CaseFilter) ([]CaseListing, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.case_id, c.number, c.service, c.kit_id, c.received_at, c.size,
			f.late, f.applied_at,
			COALESCE((SELECT a.actor FROM audit a WHERE a.kit_id = c.kit_id AND a.case_id = c.case_id ORDER BY a.seq LIMIT 1), ''),
			h.at, COALESCE(h.actor, ''), d.at
		FROM cases c
		LEFT JOIN case_facts f ON f.case_id = c.case_id
		LEFT JOIN handovers h ON h.case_id = c.case_id
		LEFT JOIN fingerprint_deletions d ON d.case_id = c.case_id
		WHERE ($1 = '' OR c.kit_id = $1) AND ($2 = '' OR c.service = $2)
		ORDER BY c.seq`, f.Kit, f.Service)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	defer rows.Close()
	var out []CaseListing
	for rows.Next() {
		var c CaseListing
		var late *bool
		var applied, handed, deleted *time.Time
		if err := rows.Scan(&c.CaseID, &c.Number, &c.Service, &c.Kit, &c.ReceivedAt, &c.Size, &late, &applied,
			&c.Caseworker, &handed, &c.HandedOverBy, &deleted); err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		c.ReceivedAt = c.ReceivedAt.UTC()
		c.AppliedAt, c.HandedOverAt, c.FingerprintsDeletedAt = fromPG(applied), fromPG(handed), fromPG(deleted)
		c.FactsKnown = late != nil
		c.Late = late != nil && *late
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return out, nil
}

func (s *pgStore) AddCaseFacts(ctx context.Context, caseID string, late bool, appliedAt time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO case_facts (case_id, late, applied_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		caseID, late, pgTime(appliedAt))
	if err != nil {
		return fmt.Errorf("case facts: %w", err)
	}
	return nil
}

func (s *pgStore) AddHandover(ctx context.Context, h Handover, audit AuditRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := pgExecAudited(ctx, tx, audit, `INSERT INTO handovers (case_id, at, actor, target) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			h.CaseID, h.At.UTC(), h.Actor, h.Target)
		return err
	})
}

func (s *pgStore) FingerprintsDeleted(ctx context.Context, caseID string) (bool, error) {
	var done bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fingerprint_deletions WHERE case_id = $1)`, caseID).Scan(&done)
	return done, err
}

func (s *pgStore) AddFingerprintDeletion(ctx context.Context, d FingerprintDeletion, audit AuditRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := pgExecAudited(ctx, tx, audit, `INSERT INTO fingerprint_deletions (case_id, at, actor, rule, parts) VALUES ($1, $2, $3, $4, $5)`,
			d.CaseID, d.At.UTC(), d.Actor, d.Rule, d.Parts)
		return err
	})
}

func (s *pgStore) Fleet(ctx context.Context) ([]KitStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT k.id, k.url, k.enrolled_at,
			c.last_contact, c.cert_not_after, COALESCE(c.version, ''),
			(SELECT COUNT(*) FROM cases x WHERE x.kit_id = k.id),
			(SELECT MAX(x.received_at) FROM cases x WHERE x.kit_id = k.id),
			r.at, COALESCE(r.actor, ''), COALESCE(r.reason, ''), COALESCE(r.allowed_by, ''),
			q.reported_at, COALESCE(q.depth, 0), COALESCE(q.parked, 0), q.oldest_since
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
		var contact, notAfter, lastCase, revoked, reported, oldest *time.Time
		if err := rows.Scan(&k.ID, &k.URL, &k.EnrolledAt, &contact, &notAfter, &k.Version, &k.Received, &lastCase,
			&revoked, &k.RevokedBy, &k.RevokeReason, &k.AllowedBy, &reported, &k.QueueDepth, &k.Parked, &oldest); err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
		k.EnrolledAt = k.EnrolledAt.UTC()
		k.LastContact, k.CertNotAfter, k.LastCase, k.RevokedAt = fromPG(contact), fromPG(notAfter), fromPG(lastCase), fromPG(revoked)
		k.QueueReportedAt, k.OldestWaiting = fromPG(reported), fromPG(oldest)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *pgStore) NoteContact(ctx context.Context, c KitContact) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO kit_contact (kit_id, last_contact, cert_not_after, version) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kit_id) DO UPDATE SET last_contact = excluded.last_contact, cert_not_after = excluded.cert_not_after,
			version = excluded.version
		WHERE kit_contact.last_contact < $5 OR kit_contact.version <> excluded.version`,
		c.KitID, c.At.UTC(), pgTime(c.CertNotAfter), c.Version, c.At.Add(-time.Minute).UTC())
	if err != nil {
		return fmt.Errorf("kit contact: %w", err)
	}
	return nil
}

func (s *pgStore) SetKitQueue(ctx context.Context, q KitQueue) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO kit_queue (kit_id, reported_at, depth, parked, oldest_since) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (kit_id) DO UPDATE SET reported_at = excluded.reported_at, depth = excluded.depth,
			parked = excluded.parked, oldest_since = excluded.oldest_since`,
		q.KitID, q.At.UTC(), q.Depth, q.Parked, pgTime(q.OldestSince))
	if err != nil {
		return fmt.Errorf("kit queue: %w", err)
	}
	return nil
}

func (s *pgStore) Revoke(ctx context.Context, r Revocation, audit AuditRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := pgExecAudited(ctx, tx, audit, `INSERT INTO revocations (kit_id, at, actor, reason) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			r.KitID, r.At.UTC(), r.Actor, r.Reason)
		return err
	})
}

func (s *pgStore) Revocation(ctx context.Context, kitID string) (Revocation, bool, error) {
	r := Revocation{KitID: kitID}
	var allowedAt *time.Time
	err := s.pool.QueryRow(ctx, `SELECT at, actor, reason, allowed_at, allowed_by FROM revocations WHERE kit_id = $1`, kitID).
		Scan(&r.At, &r.Actor, &r.Reason, &allowedAt, &r.AllowedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return Revocation{}, false, nil
	}
	if err != nil {
		return Revocation{}, false, fmt.Errorf("revocation: %w", err)
	}
	r.At, r.AllowedAt = r.At.UTC(), fromPG(allowedAt)
	return r, true, nil
}

func (s *pgStore) AllowSealedBeforeRevocation(ctx context.Context, kitID string, audit AuditRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		changed, err := pgExecAudited(ctx, tx, audit, `UPDATE revocations SET allowed_at = $1, allowed_by = $2 WHERE kit_id = $3 AND allowed_at IS NULL`,
			audit.At.UTC(), audit.Actor, kitID)
		if err == nil && !changed {
			return fmt.Errorf("kit %s: not revoked or allowed already: %w", kitID, ErrNotFound)
		}
		return err
	})
}

func (s *pgStore) AddStaff(ctx context.Context, st Staff, audit AuditRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		changed, err := pgExecAudited(ctx, tx, audit, `INSERT INTO staff (name, role, hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			st.Name, st.Role, st.Hash, st.CreatedAt.UTC())
		if err != nil {
			return fmt.Errorf("add staff: %w", err)
		}
		if !changed {
			return fmt.Errorf("staff %s: %w", st.Name, ErrExists)
		}
		return nil
	})
}

func (s *pgStore) Staff(ctx context.Context, name string) (Staff, error) {
	st := Staff{Name: name}
	err := s.pool.QueryRow(ctx, `SELECT role, hash, created_at FROM staff WHERE name = $1`, name).Scan(&st.Role, &st.Hash, &st.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Staff{}, fmt.Errorf("staff %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Staff{}, fmt.Errorf("staff: %w", err)
	}
	st.CreatedAt = st.CreatedAt.UTC()
	return st, nil
}

func (s *pgStore) AppendAudit(ctx context.Context, e AuditRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return pgAppendAudit(ctx, tx, e) })
}

func pgAppendAudit(ctx context.Context, tx pgx.Tx, e AuditRecord) error {
	// One chain for every replica: appends wait for each other.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(4711003)`); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	var seq int64
	var prev []byte
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM townhall_audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("audit: %w", err)
	}
	c := chainAudit(seq, prev, e)
	_, err = tx.Exec(ctx, `INSERT INTO townhall_audit (seq, at, actor, event, case_id, kit_id, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, c.Seq, c.At, c.Actor, c.Event, c.CaseID, c.KitID, c.Detail, c.PrevHash, c.Hash)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func (s *pgStore) TownhallAudit(ctx context.Context, limit int) ([]AuditRecord, error) {
	cs, err := s.townhallAudit(ctx, `ORDER BY seq DESC LIMIT $1`, limit)
	out := make([]AuditRecord, len(cs))
	for i, c := range cs {
		out[i] = c.AuditRecord
	}
	return out, err
}

func (s *pgStore) TownhallAuditChain(ctx context.Context) ([]ChainedAuditRecord, error) {
	return s.townhallAudit(ctx, `ORDER BY seq`)
}

func (s *pgStore) KitAuditEvents(ctx context.Context, event, kitID string) ([]AuditRecord, error) {
	cs, err := s.townhallAudit(ctx, `WHERE event = $1 AND kit_id = $2 ORDER BY seq`, event, kitID)
	out := make([]AuditRecord, len(cs))
	for i, c := range cs {
		out[i] = c.AuditRecord
	}
	return out, err
}

func (s *pgStore) townhallAudit(ctx context.Context, order string, args ...any) ([]ChainedAuditRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, at, actor, event, case_id, kit_id, detail, prev_hash, hash FROM townhall_audit `+order, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []ChainedAuditRecord
	for rows.Next() {
		var e ChainedAuditRecord
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Event, &e.CaseID, &e.KitID, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
