package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// EventKitRevoked is audited when the kit learns that the town hall revoked it.
const EventKitRevoked = "kit.revoked"

const revokedKey = "revoked_at"

// RevokedReason is the parked reason of packets held back because the kit is revoked (the
// town hall's refusal code).
const RevokedReason = "revoked"

// parkAll parks every outbox item still waiting.
func parkAll(ctx context.Context, tx *sql.Tx, s *Store, reason string) error {
	rows, err := tx.QueryContext(ctx, "SELECT case_id FROM outbox WHERE done_at IS NULL AND parked_reason = '' ORDER BY created_at")
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, "UPDATE outbox SET parked_reason = ? WHERE case_id = ?", reason, id); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, EventCaseParked, id, "kit"); err != nil {
			return err
		}
	}
	return nil
}

// MarkRevoked records that the town hall revoked this kit (lost or stolen) and destroys what
// opens its drafts and visit packs, in one transaction: every caseworker's wrapped data key is
// erased and the caseworker disabled, and the stored visit packs are deleted. Drafts stay as
// ciphertext nobody can open any more. Sealed packets stay, every one still waiting parked
// with RevokedReason: the kit cannot read them anyway, and the town hall's administrator
// decides about them (then Unpark). Marking again changes nothing.
func (s *Store) MarkRevoked(ctx context.Context, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO kit(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
			revokedKey, strconv.FormatInt(ms(at), 10))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE caseworkers SET wrapped = x'', disabled = 1"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM visit_packs"); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, EventKitRevoked, "", ""); err != nil {
			return err
		}
		return parkAll(ctx, tx, s, RevokedReason)
	})
	if err != nil {
		return fmt.Errorf("mark revoked: %w", err)
	}
	return nil
}

// RevokedAt is when the kit learnt of its revocation; zero while it is not revoked.
func (s *Store) RevokedAt(ctx context.Context) (time.Time, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, "SELECT CAST(value AS INTEGER) FROM kit WHERE key = ?", revokedKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("revoked at: %w", err)
	}
	return fromMS(v), nil
}
