package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Audit events. Entries hold ids and these names only, never personal data.
const (
	EventCaseCreated    = "case.created"
	EventStepSaved      = "case.step-saved"
	EventAttachmentAdd  = "case.attachment-added"
	EventCaseSealed     = "case.sealed"
	EventUploadStarted  = "case.upload-started"
	EventCaseParked     = "case.parked"
	EventCaseUnparked   = "case.unparked"
	EventCaseDelivered  = "case.delivered"
	EventCasePurged     = "case.purged"
	EventCaseCancelled  = "case.cancelled"
	EventCaseDiscarded  = "case.discarded" // + "." + the reason code (Store.Discard)
	EventCaseworkerAdd  = "caseworker.added"
	EventVisitPackSaved = "visit-pack.saved"
)

// AuditEntry is one link of the hash chain.
type AuditEntry struct {
	Seq      int64
	At       time.Time
	Event    string
	CaseID   string
	Actor    string // caseworker id or "kit"
	PrevHash []byte
	Hash     []byte
}

// ErrAuditBroken is returned by VerifyAudit when the chain does not hold.
var ErrAuditBroken = errors.New("audit chain broken")

func auditHash(prev []byte, seq int64, at int64, event, caseID, actor string) []byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field(prev)
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	field(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(at))
	field(n[:])
	field([]byte(event))
	field([]byte(caseID))
	field([]byte(actor))
	return h.Sum(nil)
}

// appendAudit adds one entry inside tx, chained to the last one.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, event, caseID, actor string) error {
	var seq int64
	var prev []byte
	err := tx.QueryRowContext(ctx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").Scan(&seq, &prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		prev = make([]byte, sha256.Size)
	case err != nil:
		return fmt.Errorf("audit: %w", err)
	}
	seq++
	at := ms(s.now())
	h := auditHash(prev, seq, at, event, caseID, actor)
	_, err = tx.ExecContext(ctx,
		"INSERT INTO audit(seq, at, event, case_id, actor, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
		seq, at, event, caseID, actor, prev, h)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Audit appends an entry for an event that changes no other row (a login, a print).
func (s *Store) Audit(ctx context.Context, event, caseID, actor string) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.appendAudit(ctx, tx, event, caseID, actor) })
}

// AuditEntries returns up to limit entries after seq, oldest first (for the sync of the log).
func (s *Store) AuditEntries(ctx context.Context, after int64, limit int) ([]AuditEntry, error) {
	rows, err := s.r.QueryContext(ctx,
		"SELECT seq, at, event, case_id, actor, prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Event, &e.CaseID, &e.Actor, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("audit entries: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// VerifyAudit walks the whole chain and reports the first entry whose link or hash is wrong.
func (s *Store) VerifyAudit(ctx context.Context) error {
	return VerifyChain(func(yield func(AuditEntry) error) error {
		var after int64
		for {
			page, err := s.AuditEntries(ctx, after, 1000)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				return nil
			}
			for _, e := range page {
				if err := yield(e); err != nil {
					return err
				}
			}
			after = page[len(page)-1].Seq
		}
	})
}

// VerifyChain checks entries handed over in order by each; the town hall uses it on synced logs.
func VerifyChain(each func(yield func(AuditEntry) error) error) error {
	prev := make([]byte, sha256.Size)
	var last int64
	return each(func(e AuditEntry) error {
		if e.Seq != last+1 {
			return fmt.Errorf("%w: entry %d follows %d", ErrAuditBroken, e.Seq, last)
		}
		if !bytes.Equal(e.PrevHash, prev) {
			return fmt.Errorf("%w: entry %d does not link to its predecessor", ErrAuditBroken, e.Seq)
		}
		if !bytes.Equal(auditHash(prev, e.Seq, e.At.UnixMilli(), e.Event, e.CaseID, e.Actor), e.Hash) {
			return fmt.Errorf("%w: entry %d has a wrong hash", ErrAuditBroken, e.Seq)
		}
		prev, last = e.Hash, e.Seq
		return nil
	})
}

const auditCursorKey = "audit.synced-seq"

// AuditCursor is the last audit entry the town hall has acknowledged (0 if none).
func (s *Store) AuditCursor(ctx context.Context) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, "SELECT CAST(value AS INTEGER) FROM kit WHERE key = ?", auditCursorKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit cursor: %w", err)
	}
	return v, nil
}

// SetAuditCursor records that entries up to seq reached the town hall. It never moves back.
func (s *Store) SetAuditCursor(ctx context.Context, seq int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kit(key, value) VALUES (?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value
			WHERE CAST(excluded.value AS INTEGER) > CAST(kit.value AS INTEGER)`, auditCursorKey, fmt.Sprint(seq))
		return err
	})
	if err != nil {
		return fmt.Errorf("set audit cursor: %w", err)
	}
	return nil
}
