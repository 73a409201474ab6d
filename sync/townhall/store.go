package townhall

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"koffer/sync/receipt"
)

//go:embed migrations/*.sql
var migrations embed.FS

// errNotFound is returned by lookups that find no row.
var errNotFound = errors.New("not found")

// store is the town hall's SQLite database: one writer, WAL, synchronous=FULL.
type store struct {
	db *sql.DB
}

func openStore(ctx context.Context, path string) (*store, error) {
	dsn := "file:" + path + "?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(1)
	s := &store{db: db}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *store) Close() error { return s.db.Close() }

// migrate applies the numbered migrations newer than PRAGMA user_version, each in its own
// transaction together with the version bump.
func (s *store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var have int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: %s: no number", base)
		}
		if n <= have {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migrate %s: %w", base, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migrate %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
	}
	return nil
}

const timeFormat = time.RFC3339Nano

type auditEntry = receipt.AuditEntry

type kitRow struct {
	ID        string
	PublicKey []byte
}

func (s *store) addKit(ctx context.Context, id string, pub []byte, url string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO kits (id, public_key, url, enrolled_at) VALUES (?, ?, ?, ?)`,
		id, pub, url, now.UTC().Format(timeFormat))
	if err != nil {
		return fmt.Errorf("add kit: %w", err)
	}
	return nil
}

func (s *store) kit(ctx context.Context, id string) (kitRow, error) {
	k := kitRow{ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT public_key FROM kits WHERE id = ?`, id).Scan(&k.PublicKey)
	if errors.Is(err, sql.ErrNoRows) {
		return kitRow{}, errNotFound
	}
	if err != nil {
		return kitRow{}, fmt.Errorf("kit: %w", err)
	}
	return k, nil
}

func (s *store) addUpload(ctx context.Context, uploadID, kitID, caseID string, size int64, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO uploads (upload_id, kit_id, case_id, size, created_at) VALUES (?, ?, ?, ?, ?)`,
		uploadID, kitID, caseID, size, now.UTC().Format(timeFormat))
	if err != nil {
		return fmt.Errorf("add upload: %w", err)
	}
	return nil
}

// caseRow is a received case.
type caseRow struct {
	CaseID     string
	KitID      string
	Service    string
	Number     string
	ReceivedAt time.Time
	SHA256     string
	Size       int64
	Receipt    []byte
}

func (s *store) caseByID(ctx context.Context, caseID string) (caseRow, error) {
	rows, err := s.cases(ctx, `WHERE case_id = ?`, caseID)
	if err != nil {
		return caseRow{}, err
	}
	if len(rows) == 0 {
		return caseRow{}, errNotFound
	}
	return rows[0], nil
}

func (s *store) cases(ctx context.Context, where string, args ...any) ([]caseRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT case_id, kit_id, service, number, received_at, packet_sha256, size, receipt
		FROM cases `+where+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	defer rows.Close()
	var out []caseRow
	for rows.Next() {
		var c caseRow
		var at string
		if err := rows.Scan(&c.CaseID, &c.KitID, &c.Service, &c.Number, &at, &c.SHA256, &c.Size, &c.Receipt); err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		if c.ReceivedAt, err = time.Parse(timeFormat, at); err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// addCase numbers and stores a case; sign makes the receipt from the number. Both happen in
// one transaction, so a case is either stored with its receipt or not at all.
func (s *store) addCase(ctx context.Context, c caseRow, sign func(number string) ([]byte, error)) (caseRow, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return caseRow{}, fmt.Errorf("add case: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM cases`).Scan(&next); err != nil {
		return caseRow{}, fmt.Errorf("add case: %w", err)
	}
	c.Number = fmt.Sprintf("TH-%d-%06d", c.ReceivedAt.Year(), next)
	if c.Receipt, err = sign(c.Number); err != nil {
		return caseRow{}, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO cases (seq, case_id, kit_id, service, number, received_at, packet_sha256, size, receipt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, next, c.CaseID, c.KitID, c.Service, c.Number,
		c.ReceivedAt.UTC().Format(timeFormat), c.SHA256, c.Size, c.Receipt)
	if err != nil {
		return caseRow{}, fmt.Errorf("add case: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return caseRow{}, fmt.Errorf("add case: %w", err)
	}
	return c, nil
}

type visitRow struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	VisitDate string    `json:"visit_date"`
	Pack      []byte    `json:"pack"`
}

// errRecipientConflict means the kit already registered another visit-pack recipient.
var errRecipientConflict = errors.New("another visit recipient is registered")

// setVisitRecipient records the kit's visit-pack recipient the first time; the same one again
// is fine, another one is refused (only re-enrolment may change it: whoever steals the kit's
// TLS identity cannot redirect later packs to a key of theirs).
func (s *store) setVisitRecipient(ctx context.Context, kitID, rcpt string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE kits SET visit_recipient = ? WHERE id = ? AND (visit_recipient IS NULL OR visit_recipient = ?)`,
		rcpt, kitID, rcpt)
	if err != nil {
		return fmt.Errorf("set visit recipient: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.visitRecipient(ctx, kitID); err != nil {
			return err // errNotFound: no such kit
		}
		return errRecipientConflict
	}
	return nil
}

// visitRecipient is the kit's registered visit-pack recipient, "" if none yet.
func (s *store) visitRecipient(ctx context.Context, kitID string) (string, error) {
	var r sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT visit_recipient FROM kits WHERE id = ?`, kitID).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound
	}
	if err != nil {
		return "", fmt.Errorf("visit recipient: %w", err)
	}
	return r.String, nil
}

// deleteVisit removes a kit's pack (the kit acknowledged it); errNotFound if there is none.
func (s *store) deleteVisit(ctx context.Context, kitID, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM visits WHERE id = ? AND kit_id = ?`, id, kitID)
	if err != nil {
		return fmt.Errorf("delete visit pack: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound
	}
	return nil
}

// expireVisits removes every pack whose visit day is before day (YYYY-MM-DD).
func (s *store) expireVisits(ctx context.Context, day string) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM visits WHERE visit_date < ?`, day)
	if err != nil {
		return 0, fmt.Errorf("expire visit packs: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (s *store) addVisit(ctx context.Context, kitID string, v visitRow) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO visits (id, kit_id, created_at, visit_date, pack) VALUES (?, ?, ?, ?, ?)`,
		v.ID, kitID, v.CreatedAt.UTC().Format(timeFormat), v.VisitDate, v.Pack)
	if err != nil {
		return fmt.Errorf("add visit pack: %w", err)
	}
	return nil
}

func (s *store) visits(ctx context.Context, kitID string) ([]visitRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, created_at, visit_date, pack FROM visits WHERE kit_id = ? ORDER BY created_at, id`, kitID)
	if err != nil {
		return nil, fmt.Errorf("visits: %w", err)
	}
	defer rows.Close()
	out := []visitRow{}
	for rows.Next() {
		var v visitRow
		var at string
		if err := rows.Scan(&v.ID, &at, &v.VisitDate, &v.Pack); err != nil {
			return nil, fmt.Errorf("visits: %w", err)
		}
		if v.CreatedAt, err = time.Parse(timeFormat, at); err != nil {
			return nil, fmt.Errorf("visits: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// auditHead is the last entry stored for a kit (seq 0 and no hash when none).
func (s *store) auditHead(ctx context.Context, kitID string) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit WHERE kit_id = ? ORDER BY seq DESC LIMIT 1`, kitID).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("audit head: %w", err)
	}
	return seq, hash, nil
}

var errAuditGap = errors.New("audit batch does not continue the chain")

// addAudit appends entries that must continue the stored chain: consecutive sequence numbers
// from the last stored one, each linked to its predecessor's hash. Entries already stored
// (a batch sent twice) are skipped if they are identical.
func (s *store) addAudit(ctx context.Context, kitID string, entries []auditEntry, version string) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("add audit: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var last int64
	var prev []byte
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit WHERE kit_id = ? ORDER BY seq DESC LIMIT 1`, kitID).Scan(&last, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("add audit: %w", err)
	}
	for _, e := range entries {
		if e.Seq <= last {
			var h []byte
			if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit WHERE kit_id = ? AND seq = ?`, kitID, e.Seq).Scan(&h); err != nil || !bytes.Equal(h, e.Hash) {
				return 0, errAuditGap
			}
			continue
		}
		if e.Seq != last+1 || (last > 0 && !bytes.Equal(e.PrevHash, prev)) || len(e.Hash) == 0 {
			return 0, errAuditGap
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO audit (kit_id, seq, at, event, case_id, actor, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			kitID, e.Seq, e.At.UTC().Format(timeFormat), e.Event, e.CaseID, e.Actor, append([]byte{}, e.PrevHash...), e.Hash)
		if err != nil {
			return 0, fmt.Errorf("add audit: %w", err)
		}
		last, prev = e.Seq, e.Hash
	}
	if version != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE kits SET version = ? WHERE id = ?`, version, kitID); err != nil {
			return 0, fmt.Errorf("add audit: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("add audit: %w", err)
	}
	return last, nil
}
