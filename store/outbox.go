package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

const packetExt = ".age"

// OutboxItem is a sealed packet waiting for the town hall.
type OutboxItem struct {
	CaseID        string
	Service       string
	PacketPath    string // absolute path of the sealed packet file
	Size          int64
	UploadURL     string // tus upload URL, stored before the first byte is sent
	Attempts      int
	LastError     string
	NextAttemptAt time.Time
	CreatedAt     time.Time
}

// NotDueError is returned by NextOutbox when nothing is due now. It matches ErrNotFound;
// Next is when the earliest waiting item becomes due (zero when the outbox is empty).
type NotDueError struct{ Next time.Time }

func (e *NotDueError) Error() string {
	if e.Next.IsZero() {
		return "outbox empty"
	}
	return "nothing due before " + e.Next.Format(time.RFC3339)
}

func (e *NotDueError) Is(target error) bool { return target == ErrNotFound }

// Receipt is the town hall's acknowledgement of a packet.
type Receipt struct {
	Number string
	Time   time.Time
	Raw    []byte // as received, signature included
}

// SealCase writes the sealed packet produced by write to packets/<sha256>.age (fsynced, file
// and directory), then in one transaction creates the case (or moves its draft) to sealed, adds
// the outbox row and an audit entry. The draft's steps are deleted: the packet holds them now.
// If the case exists and is not a draft, SealCase returns ErrExists and changes nothing.
func (s *Store) SealCase(ctx context.Context, c NewCase, write func(io.Writer) error) (*OutboxItem, error) {
	sum, size, err := writeFileSync(s.pkts, func(sum string) string { return sum + packetExt }, write)
	if err != nil {
		return nil, fmt.Errorf("seal case: write packet: %w", err)
	}
	rel := filepath.Join(PacketsDir, sum+packetExt)
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		st, err := requireState(ctx, tx, c.ID, StateDraft)
		switch {
		case errors.Is(err, ErrNotFound):
			if err := s.insertCase(ctx, tx, c, StateSealed); err != nil {
				return err
			}
		case errors.Is(err, ErrState):
			return fmt.Errorf("case %s is %s: %w", c.ID, st, ErrExists)
		case err != nil:
			return err
		default:
			if _, err := tx.ExecContext(ctx, "DELETE FROM steps WHERE case_id = ?", c.ID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE cases SET state = ?, sealed_at = ?, updated_at = ?, late = ? WHERE id = ?",
			StateSealed, ms(now), ms(now), c.Late, c.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO outbox(case_id, packet_path, size, next_attempt_at, created_at) VALUES (?,?,?,?,?)",
			c.ID, rel, size, ms(now), ms(now)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventCaseSealed, c.ID, c.Actor)
	})
	if err != nil {
		if rerr := removeFiles(s.pkts, []string{sum + packetExt}); rerr != nil {
			s.log.Warn("packetNotRemoved", "caseId", c.ID, "err", rerr)
		}
		return nil, fmt.Errorf("seal case: %w", err)
	}
	return &OutboxItem{
		CaseID: c.ID, Service: c.Service, PacketPath: filepath.Join(s.dir, rel), Size: size,
		NextAttemptAt: fromMS(ms(now)), CreatedAt: fromMS(ms(now)),
	}, nil
}

const outboxColumns = `o.case_id, c.service, o.packet_path, o.size, o.upload_url, o.attempts, o.last_error,
	o.next_attempt_at, o.created_at FROM outbox o JOIN cases c ON c.id = o.case_id`

func (s *Store) scanOutbox(sc interface{ Scan(...any) error }) (*OutboxItem, error) {
	var it OutboxItem
	var next, created int64
	if err := sc.Scan(&it.CaseID, &it.Service, &it.PacketPath, &it.Size, &it.UploadURL, &it.Attempts,
		&it.LastError, &next, &created); err != nil {
		return nil, err
	}
	it.PacketPath = filepath.Join(s.dir, it.PacketPath)
	it.NextAttemptAt, it.CreatedAt = fromMS(next), fromMS(created)
	return &it, nil
}

// NextOutbox returns the oldest item that is due at now and neither parked nor delivered, other
// than the case except (if given: the uplink's case whose receipt is still on its way). When
// none is due it returns a *NotDueError (errors.Is(err, ErrNotFound)) telling when to look again.
func (s *Store) NextOutbox(ctx context.Context, now time.Time, except ...string) (*OutboxItem, error) {
	skip := ""
	if len(except) > 0 {
		skip = except[0]
	}
	it, err := s.scanOutbox(s.r.QueryRowContext(ctx, "SELECT "+outboxColumns+
		` WHERE o.done_at IS NULL AND o.parked_reason = '' AND o.next_attempt_at <= ? AND o.case_id != ?
		ORDER BY o.created_at, o.case_id LIMIT 1`, ms(now), skip))
	if err == nil {
		return it, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("next outbox: %w", err)
	}
	var next sql.NullInt64
	if err := s.r.QueryRowContext(ctx,
		"SELECT min(next_attempt_at) FROM outbox WHERE done_at IS NULL AND parked_reason = ''").Scan(&next); err != nil {
		return nil, fmt.Errorf("next outbox: %w", err)
	}
	return nil, &NotDueError{Next: nullMS(next)}
}

// Outbox returns the outbox row of a case (delivered ones too).
func (s *Store) Outbox(ctx context.Context, caseID string) (*OutboxItem, error) {
	it, err := s.scanOutbox(s.r.QueryRowContext(ctx, "SELECT "+outboxColumns+" WHERE o.case_id = ?", caseID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("outbox %s: %w", caseID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", caseID, err)
	}
	return it, nil
}

// updateOutbox runs an update on a pending outbox row and fails with ErrNotFound if there is none.
func (s *Store) updateOutbox(ctx context.Context, tx *sql.Tx, caseID, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q+" WHERE case_id = ? AND done_at IS NULL", append(args, caseID)...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("outbox %s: %w", caseID, ErrNotFound)
	}
	return nil
}

// SetUploadURL stores the tus upload URL of a case's packet (before its first byte is sent) and
// moves the case to uploading.
func (s *Store) SetUploadURL(ctx context.Context, caseID, url string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		st, err := requireState(ctx, tx, caseID, StateSealed, StateUploading)
		if err != nil {
			return err
		}
		if err := s.updateOutbox(ctx, tx, caseID, "UPDATE outbox SET upload_url = ?", url); err != nil {
			return err
		}
		if st == StateUploading {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE cases SET state = ?, updated_at = ? WHERE id = ?",
			StateUploading, ms(s.now()), caseID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventUploadStarted, caseID, "kit")
	})
	if err != nil {
		return fmt.Errorf("set upload url: %w", err)
	}
	return nil
}

// RecordAttemptFailure counts a failed attempt and sets when to try again. reason must be free
// of personal data (a network or protocol error).
func (s *Store) RecordAttemptFailure(ctx context.Context, caseID, reason string, next time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return s.updateOutbox(ctx, tx, caseID,
			"UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?", reason, ms(next))
	})
	if err != nil {
		return fmt.Errorf("record attempt failure: %w", err)
	}
	return nil
}

// RetryNow makes every waiting item due at now, backed-off ones included (`koffer sync`).
// Parked and delivered items are left alone; the attempt counts stay.
func (s *Store) RetryNow(ctx context.Context, now time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ?
			WHERE done_at IS NULL AND parked_reason = '' AND next_attempt_at > ?`, ms(now), ms(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("retry now: %w", err)
	}
	return nil
}

// Park takes an item out of the sending rotation (e.g. the town hall refused the packet for
// good); a technician looks at it.
func (s *Store) Park(ctx context.Context, caseID, reason string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if reason == "" {
			reason = "parked"
		}
		if err := s.updateOutbox(ctx, tx, caseID, "UPDATE outbox SET parked_reason = ?", reason); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventCaseParked, caseID, "kit")
	})
	if err != nil {
		return fmt.Errorf("park: %w", err)
	}
	return nil
}

// Deliver records the town hall's receipt. In one transaction: the receipt is stored, the case
// becomes delivered, the outbox row done, the biometric attachment rows deleted and an audit
// entry written. Then the packet and biometric files are removed and their directories
// fsynced. Delivering the same case again with the same receipt number is a no-op.
func (s *Store) Deliver(ctx context.Context, caseID string, r Receipt) error {
	var pkt string
	var blobs []string
	already := false
	if r.Raw == nil {
		r.Raw = []byte{}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		st, err := requireState(ctx, tx, caseID, StateSealed, StateUploading)
		if errors.Is(err, ErrState) && (st == StateDelivered || st == StatePurged) {
			var num string
			if err := tx.QueryRowContext(ctx, "SELECT number FROM receipts WHERE case_id = ?", caseID).Scan(&num); err == nil && num == r.Number {
				already = true
				return nil
			}
		}
		if err != nil {
			return err
		}
		now := ms(s.now())
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO receipts(case_id, number, issued_at, raw, received_at) VALUES (?,?,?,?,?)",
			caseID, r.Number, ms(r.Time), r.Raw, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE cases SET state = ?, delivered_at = ?, updated_at = ? WHERE id = ?",
			StateDelivered, now, now, caseID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT packet_path FROM outbox WHERE case_id = ?", caseID).Scan(&pkt); err != nil {
			return err
		}
		if err := s.updateOutbox(ctx, tx, caseID, "UPDATE outbox SET done_at = ?", now); err != nil {
			return err
		}
		if blobs, err = deleteAttachments(ctx, tx, caseID, true); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventCaseDelivered, caseID, "kit")
	})
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	if already {
		return nil
	}
	if err := removeFiles(s.pkts, []string{filepath.Base(pkt)}); err != nil {
		return fmt.Errorf("deliver: remove packet: %w", err)
	}
	return s.removeBlobs(ctx, blobs)
}

// Receipt returns the receipt of a delivered case.
func (s *Store) Receipt(ctx context.Context, caseID string) (*Receipt, error) {
	var r Receipt
	var at int64
	err := s.r.QueryRowContext(ctx, "SELECT number, issued_at, raw FROM receipts WHERE case_id = ?", caseID).Scan(&r.Number, &at, &r.Raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("receipt %s: %w", caseID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("receipt %s: %w", caseID, err)
	}
	r.Time = fromMS(at)
	return &r, nil
}

// QueueStats describe the outbox for status pages and metrics.
type QueueStats struct {
	Depth        int           // packets not yet delivered (parked included)
	Parked       int           // of which parked
	Bytes        int64         // their total size
	OldestAge    time.Duration // age of the oldest undelivered packet, 0 when empty
	Delivered    int
	Drafts       int
	OldestCaseID string
}

// QueueStats counts what waits in the outbox at now.
func (s *Store) QueueStats(ctx context.Context) (QueueStats, error) {
	var st QueueStats
	var oldest sql.NullInt64
	var oldestID sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(parked_reason != ''), 0), COALESCE(sum(size), 0), min(created_at),
		(SELECT case_id FROM outbox WHERE done_at IS NULL ORDER BY created_at LIMIT 1)
		FROM outbox WHERE done_at IS NULL`).Scan(&st.Depth, &st.Parked, &st.Bytes, &oldest, &oldestID)
	if err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	if oldest.Valid {
		st.OldestAge = max(s.now().Sub(fromMS(oldest.Int64)), 0)
		st.OldestCaseID = oldestID.String
	}
	if err := s.r.QueryRowContext(ctx, "SELECT COALESCE(sum(state = 'delivered' OR state = 'purged'), 0), COALESCE(sum(state = 'draft'), 0) FROM cases").
		Scan(&st.Delivered, &st.Drafts); err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	return st, nil
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

// Unpark puts a parked item back into the sending rotation, due at once (a technician's
// decision after fixing the cause).
func (s *Store) Unpark(ctx context.Context, caseID string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.updateOutbox(ctx, tx, caseID, "UPDATE outbox SET parked_reason = '', next_attempt_at = ?", ms(s.now())); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventCaseUnparked, caseID, "kit")
	})
	if err != nil {
		return fmt.Errorf("unpark: %w", err)
	}
	return nil
}
