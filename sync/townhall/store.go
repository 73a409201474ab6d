package townhall

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"koffer/sync/receipt"
)

//go:embed migrations/*.sql
var migrations embed.FS

// sqliteStore is the embedded Metadata: one SQLite database in the data directory, one
// writer, WAL, synchronous=FULL.
type sqliteStore struct {
	db *sql.DB
}

var _ Metadata = (*sqliteStore)(nil)

func openSQLite(ctx context.Context, path string) (*sqliteStore, error) {
	dsn := "file:" + path + "?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(1)
	s := &sqliteStore{db: db}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqliteStore) Close() error { return s.db.Close() }

// migrate applies the numbered migrations newer than PRAGMA user_version, each in its own
// transaction together with the version bump.
func (s *sqliteStore) migrate(ctx context.Context) error {
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

func (s *sqliteStore) AddKit(ctx context.Context, k Kit) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO kits (id, public_key, url, enrolled_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.PublicKey, k.URL, k.EnrolledAt.UTC().Format(timeFormat))
	if err != nil {
		return fmt.Errorf("add kit: %w", err)
	}
	return nil
}

func (s *sqliteStore) Kit(ctx context.Context, id string) (Kit, error) {
	k := Kit{ID: id}
	var at string
	var rcpt sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT public_key, url, enrolled_at, version, visit_recipient FROM kits WHERE id = ?`, id).
		Scan(&k.PublicKey, &k.URL, &at, &k.Version, &rcpt)
	if errors.Is(err, sql.ErrNoRows) {
		return Kit{}, fmt.Errorf("kit %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Kit{}, fmt.Errorf("kit: %w", err)
	}
	if k.EnrolledAt, err = time.Parse(timeFormat, at); err != nil {
		return Kit{}, fmt.Errorf("kit: %w", err)
	}
	k.VisitRecipient = rcpt.String
	return k, nil
}

func (s *sqliteStore) SetVisitRecipient(ctx context.Context, kitID, rcpt string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE kits SET visit_recipient = ? WHERE id = ? AND (visit_recipient IS NULL OR visit_recipient = ?)`,
		rcpt, kitID, rcpt)
	if err != nil {
		return fmt.Errorf("set visit recipient: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Kit(ctx, kitID); err != nil {
			return err
		}
		return errRecipientConflict
	}
	return nil
}

func (s *sqliteStore) SetKitVersion(ctx context.Context, kitID, version string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE kits SET version = ? WHERE id = ?`, version, kitID); err != nil {
		return fmt.Errorf("set kit version: %w", err)
	}
	return nil
}

func (s *sqliteStore) AddUpload(ctx context.Context, u UploadRecord) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO uploads (upload_id, kit_id, case_id, size, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.KitID, u.CaseID, u.Size, u.CreatedAt.UTC().Format(timeFormat))
	if err != nil {
		return fmt.Errorf("add upload: %w", err)
	}
	return nil
}

func (s *sqliteStore) Upload(ctx context.Context, id string) (UploadRecord, error) {
	ups, err := s.uploads(ctx, `WHERE upload_id = ?`, id)
	if err != nil {
		return UploadRecord{}, err
	}
	if len(ups) == 0 {
		return UploadRecord{}, fmt.Errorf("upload %s: %w", id, ErrNotFound)
	}
	return ups[0], nil
}

func (s *sqliteStore) OpenUploads(ctx context.Context, kitID string) ([]UploadRecord, error) {
	if kitID == "" {
		return s.uploads(ctx, ``)
	}
	return s.uploads(ctx, `WHERE kit_id = ?`, kitID)
}

func (s *sqliteStore) uploads(ctx context.Context, where string, args ...any) ([]UploadRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT upload_id, kit_id, case_id, size, created_at, tus_id FROM uploads `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	defer rows.Close()
	var out []UploadRecord
	for rows.Next() {
		var u UploadRecord
		var at string
		if err := rows.Scan(&u.ID, &u.KitID, &u.CaseID, &u.Size, &at, &u.TusID); err != nil {
			return nil, fmt.Errorf("uploads: %w", err)
		}
		if u.CreatedAt, err = time.Parse(timeFormat, at); err != nil {
			return nil, fmt.Errorf("uploads: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	// RFC 3339 text with trimmed fractions does not sort as time: order here.
	slices.SortFunc(out, func(a, b UploadRecord) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (s *sqliteStore) SetUploadTusID(ctx context.Context, id, tusID string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE uploads SET tus_id = ? WHERE upload_id = ?`, tusID, id); err != nil {
		return fmt.Errorf("set upload tus id: %w", err)
	}
	return nil
}

func (s *sqliteStore) DeleteUpload(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM uploads WHERE upload_id = ?`, id); err != nil {
		return fmt.Errorf("delete upload: %w", err)
	}
	return nil
}

func (s *sqliteStore) Case(ctx context.Context, caseID string) (Case, error) {
	rows, err := s.cases(ctx, s.db, `WHERE case_id = ?`, caseID)
	if err != nil {
		return Case{}, err
	}
	if len(rows) == 0 {
		return Case{}, fmt.Errorf("case %s: %w", caseID, ErrNotFound)
	}
	return rows[0], nil
}

func (s *sqliteStore) Cases(ctx context.Context) ([]Case, error) { return s.cases(ctx, s.db, "") }

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *sqliteStore) cases(ctx context.Context, db querier, where string, args ...any) ([]Case, error) {
	rows, err := db.QueryContext(ctx, `SELECT case_id, kit_id, service, number, received_at, packet_sha256, size, receipt
		FROM cases `+where+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	defer rows.Close()
	var out []Case
	for rows.Next() {
		var c Case
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

// caseNumber is the town hall's number of the seq-th case.
func caseNumber(at time.Time, seq int64) string { return fmt.Sprintf("TH-%d-%06d", at.Year(), seq) }

func (s *sqliteStore) AddCase(ctx context.Context, c Case, sign func(number string) ([]byte, error)) (Case, bool, error) {
	tx, err := s.db.BeginTx(ctx, nil) // _txlock=immediate: the write lock is taken here
	if err != nil {
		return Case{}, false, fmt.Errorf("add case: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if prev, err := s.cases(ctx, tx, `WHERE case_id = ?`, c.CaseID); err != nil {
		return Case{}, false, err
	} else if len(prev) > 0 {
		return prev[0], false, nil
	}
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM cases`).Scan(&next); err != nil {
		return Case{}, false, fmt.Errorf("add case: %w", err)
	}
	c.Number = caseNumber(c.ReceivedAt, next)
	if c.Receipt, err = sign(c.Number); err != nil {
		return Case{}, false, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO cases (seq, case_id, kit_id, service, number, received_at, packet_sha256, size, receipt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, next, c.CaseID, c.KitID, c.Service, c.Number,
		c.ReceivedAt.UTC().Format(timeFormat), c.SHA256, c.Size, c.Receipt)
	if err != nil {
		return Case{}, false, fmt.Errorf("add case: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Case{}, false, fmt.Errorf("add case: %w", err)
	}
	return c, true, nil
}

func (s *sqliteStore) AddVisit(ctx context.Context, kitID string, v VisitPack) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO visits (id, kit_id, created_at, visit_date, pack) VALUES (?, ?, ?, ?, ?)`,
		v.ID, kitID, v.CreatedAt.UTC().Format(timeFormat), v.VisitDate, v.Pack)
	if err != nil {
		return fmt.Errorf("add visit pack: %w", err)
	}
	return nil
}

func (s *sqliteStore) Visits(ctx context.Context, kitID string) ([]VisitPack, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, created_at, visit_date, pack FROM visits WHERE kit_id = ? ORDER BY created_at, id`, kitID)
	if err != nil {
		return nil, fmt.Errorf("visits: %w", err)
	}
	defer rows.Close()
	out := []VisitPack{}
	for rows.Next() {
		var v VisitPack
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

func (s *sqliteStore) DeleteVisit(ctx context.Context, kitID, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM visits WHERE id = ? AND kit_id = ?`, id, kitID)
	if err != nil {
		return fmt.Errorf("delete visit pack: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("visit pack %s: %w", id, ErrNotFound)
	}
	return nil
}

func (s *sqliteStore) ExpireVisits(ctx context.Context, day string) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM visits WHERE visit_date < ?`, day)
	if err != nil {
		return 0, fmt.Errorf("expire visit packs: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (s *sqliteStore) AuditHead(ctx context.Context, kitID string) (int64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit WHERE kit_id = ?`, kitID).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("audit head: %w", err)
	}
	return seq, nil
}

func (s *sqliteStore) AuditLog(ctx context.Context, kitID string) ([]receipt.AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, event, case_id, actor, prev_hash, hash FROM audit WHERE kit_id = ? ORDER BY seq`, kitID)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []receipt.AuditEntry
	for rows.Next() {
		var e receipt.AuditEntry
		var at string
		if err := rows.Scan(&e.Seq, &at, &e.Event, &e.CaseID, &e.Actor, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		if e.At, err = time.Parse(timeFormat, at); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqliteStore) AddAudit(ctx context.Context, kitID string, entries []receipt.AuditEntry) (int64, error) {
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
	stored := func(seq int64) ([]byte, error) {
		var h []byte
		return h, tx.QueryRowContext(ctx, `SELECT hash FROM audit WHERE kit_id = ? AND seq = ?`, kitID, seq).Scan(&h)
	}
	insert := func(e receipt.AuditEntry) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit (kit_id, seq, at, event, case_id, actor, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			kitID, e.Seq, e.At.UTC().Format(timeFormat), e.Event, e.CaseID, e.Actor, append([]byte{}, e.PrevHash...), e.Hash)
		return err
	}
	if last, err = appendChain(last, prev, entries, stored, insert); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("add audit: %w", err)
	}
	return last, nil
}

// appendChain applies the audit chain rule for both databases: entries up to last must match
// what is stored, the rest must continue the chain one by one from (last, prev).
func appendChain(last int64, prev []byte, entries []receipt.AuditEntry, stored func(seq int64) ([]byte, error), insert func(receipt.AuditEntry) error) (int64, error) {
	for _, e := range entries {
		if e.Seq <= last {
			if h, err := stored(e.Seq); err != nil || !bytes.Equal(h, e.Hash) {
				return 0, errAuditGap
			}
			continue
		}
		if e.Seq != last+1 || (last > 0 && !bytes.Equal(e.PrevHash, prev)) || len(e.Hash) == 0 {
			return 0, errAuditGap
		}
		if err := insert(e); err != nil {
			return 0, fmt.Errorf("add audit: %w", err)
		}
		last, prev = e.Seq, e.Hash
	}
	return last, nil
}
