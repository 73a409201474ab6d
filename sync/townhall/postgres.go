package townhall

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"koffer/sync/receipt"
)

//go:embed pgmigrations/*.sql
var pgMigrations embed.FS

// pgStore is the Metadata on PostgreSQL, shared by every replica.
type pgStore struct {
	pool *pgxpool.Pool
}

var _ Metadata = (*pgStore)(nil)

// openPostgres connects to dsn and applies the migrations. The password comes from the
// environment (PGPASSWORD) or a pgpass file, never from dsn.
func openPostgres(ctx context.Context, dsn string) (*pgStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &pgStore{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *pgStore) Close() error { s.pool.Close(); return nil }

// migrate applies the numbered migrations newer than schema_version in one transaction,
// under an advisory lock: replicas starting together migrate once.
func (s *pgStore) migrate(ctx context.Context) error {
	names, err := fs.Glob(pgMigrations, "pgmigrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(4711001)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		for _, name := range names {
			base := strings.TrimPrefix(name, "pgmigrations/")
			n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
			if err != nil {
				return fmt.Errorf("migrate: %s: no number", base)
			}
			if n <= have {
				continue
			}
			body, err := pgMigrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migrate %s: %w", base, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, n); err != nil {
				return fmt.Errorf("migrate %s: %w", base, err)
			}
		}
		return nil
	})
}

func (s *pgStore) AddKit(ctx context.Context, k Kit) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO kits (id, public_key, url, enrolled_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.PublicKey, k.URL, k.EnrolledAt)
	if err != nil {
		return fmt.Errorf("add kit: %w", err)
	}
	return nil
}

func (s *pgStore) Kit(ctx context.Context, id string) (Kit, error) {
	k := Kit{ID: id}
	var rcpt *string
	err := s.pool.QueryRow(ctx, `SELECT public_key, url, enrolled_at, version, visit_recipient FROM kits WHERE id = $1`, id).
		Scan(&k.PublicKey, &k.URL, &k.EnrolledAt, &k.Version, &rcpt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Kit{}, fmt.Errorf("kit %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Kit{}, fmt.Errorf("kit: %w", err)
	}
	k.EnrolledAt = k.EnrolledAt.UTC()
	if rcpt != nil {
		k.VisitRecipient = *rcpt
	}
	return k, nil
}

func (s *pgStore) SetVisitRecipient(ctx context.Context, kitID, rcpt string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE kits SET visit_recipient = $1 WHERE id = $2 AND (visit_recipient IS NULL OR visit_recipient = $1)`,
		rcpt, kitID)
	if err != nil {
		return fmt.Errorf("set visit recipient: %w", err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.Kit(ctx, kitID); err != nil {
			return err
		}
		return errRecipientConflict
	}
	return nil
}

func (s *pgStore) SetKitVersion(ctx context.Context, kitID, version string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE kits SET version = $1 WHERE id = $2`, version, kitID); err != nil {
		return fmt.Errorf("set kit version: %w", err)
	}
	return nil
}

func (s *pgStore) AddUpload(ctx context.Context, u UploadRecord) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO uploads (upload_id, kit_id, case_id, size, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (upload_id) DO NOTHING`, u.ID, u.KitID, u.CaseID, u.Size, u.CreatedAt)
	if err != nil {
		return fmt.Errorf("add upload: %w", err)
	}
	return nil
}

func (s *pgStore) Upload(ctx context.Context, id string) (UploadRecord, error) {
	ups, err := s.uploads(ctx, `WHERE upload_id = $1`, id)
	if err != nil {
		return UploadRecord{}, err
	}
	if len(ups) == 0 {
		return UploadRecord{}, fmt.Errorf("upload %s: %w", id, ErrNotFound)
	}
	return ups[0], nil
}

func (s *pgStore) OpenUploads(ctx context.Context, kitID string) ([]UploadRecord, error) {
	if kitID == "" {
		return s.uploads(ctx, `ORDER BY created_at`)
	}
	return s.uploads(ctx, `WHERE kit_id = $1 ORDER BY created_at`, kitID)
}

func (s *pgStore) uploads(ctx context.Context, where string, args ...any) ([]UploadRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT upload_id, kit_id, case_id, size, created_at, tus_id FROM uploads `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UploadRecord, error) {
		var u UploadRecord
		err := r.Scan(&u.ID, &u.KitID, &u.CaseID, &u.Size, &u.CreatedAt, &u.TusID)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	return out, nil
}

func (s *pgStore) SetUploadTusID(ctx context.Context, id, tusID string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE uploads SET tus_id = $1 WHERE upload_id = $2`, tusID, id); err != nil {
		return fmt.Errorf("set upload tus id: %w", err)
	}
	return nil
}

func (s *pgStore) DeleteUpload(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM uploads WHERE upload_id = $1`, id); err != nil {
		return fmt.Errorf("delete upload: %w", err)
	}
	return nil
}

const pgCaseColumns = `case_id, kit_id, service, number, received_at, packet_sha256, size, receipt`

func scanCases(rows pgx.Rows) ([]Case, error) {
	defer rows.Close()
	var out []Case
	for rows.Next() {
		var c Case
		if err := rows.Scan(&c.CaseID, &c.KitID, &c.Service, &c.Number, &c.ReceivedAt, &c.SHA256, &c.Size, &c.Receipt); err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		c.ReceivedAt = c.ReceivedAt.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return out, nil
}

type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func pgCase(ctx context.Context, q pgQuerier, caseID string) (Case, error) {
	rows, err := q.Query(ctx, `SELECT `+pgCaseColumns+` FROM cases WHERE case_id = $1`, caseID)
	if err != nil {
		return Case{}, fmt.Errorf("case: %w", err)
	}
	cs, err := scanCases(rows)
	if err != nil {
		return Case{}, err
	}
	if len(cs) == 0 {
		return Case{}, fmt.Errorf("case %s: %w", caseID, ErrNotFound)
	}
	return cs[0], nil
}

func (s *pgStore) Case(ctx context.Context, caseID string) (Case, error) {
	return pgCase(ctx, s.pool, caseID)
}

func (s *pgStore) Cases(ctx context.Context) ([]Case, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgCaseColumns+` FROM cases ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return scanCases(rows)
}

func (s *pgStore) AddCase(ctx context.Context, c Case, sign func(number string) ([]byte, error)) (Case, bool, error) {
	var stored Case
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The counter's row lock serialises commits across replicas; the case is looked up
		// only once it is held, so two replicas never both number one case.
		var next int64
		if err := tx.QueryRow(ctx, `UPDATE case_counter SET last = last + 1 RETURNING last`).Scan(&next); err != nil {
			return fmt.Errorf("add case: %w", err)
		}
		prev, err := pgCase(ctx, tx, c.CaseID)
		if err == nil {
			stored = prev
			return errCaseStored // rolls the counter back: no gap
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		c.Number = caseNumber(c.ReceivedAt, next)
		if c.Receipt, err = sign(c.Number); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO cases (seq, `+pgCaseColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			next, c.CaseID, c.KitID, c.Service, c.Number, c.ReceivedAt, c.SHA256, c.Size, c.Receipt); err != nil {
			return fmt.Errorf("add case: %w", err)
		}
		stored, created = c, true
		return nil
	})
	if errors.Is(err, errCaseStored) {
		return stored, false, nil
	}
	if err != nil {
		return Case{}, false, err
	}
	return stored, created, nil
}

var errCaseStored = errors.New("case stored already")

func (s *pgStore) AddVisit(ctx context.Context, kitID string, v VisitPack) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO visits (id, kit_id, created_at, visit_date, pack) VALUES ($1, $2, $3, $4, $5)`,
		v.ID, kitID, v.CreatedAt, v.VisitDate, v.Pack)
	if err != nil {
		return fmt.Errorf("add visit pack: %w", err)
	}
	return nil
}

func (s *pgStore) Visits(ctx context.Context, kitID string) ([]VisitPack, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, created_at, visit_date, pack FROM visits WHERE kit_id = $1 ORDER BY created_at, id`, kitID)
	if err != nil {
		return nil, fmt.Errorf("visits: %w", err)
	}
	defer rows.Close()
	out := []VisitPack{}
	for rows.Next() {
		var v VisitPack
		if err := rows.Scan(&v.ID, &v.CreatedAt, &v.VisitDate, &v.Pack); err != nil {
			return nil, fmt.Errorf("visits: %w", err)
		}
		v.CreatedAt = v.CreatedAt.UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *pgStore) DeleteVisit(ctx context.Context, kitID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM visits WHERE id = $1 AND kit_id = $2`, id, kitID)
	if err != nil {
		return fmt.Errorf("delete visit pack: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("visit pack %s: %w", id, ErrNotFound)
	}
	return nil
}

func (s *pgStore) ExpireVisits(ctx context.Context, day string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM visits WHERE visit_date < $1`, day)
	if err != nil {
		return 0, fmt.Errorf("expire visit packs: %w", err)
	}
	return tag.RowsAffected(), nil
}

func (s *pgStore) AuditHead(ctx context.Context, kitID string) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit WHERE kit_id = $1`, kitID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("audit head: %w", err)
	}
	return seq, nil
}

func (s *pgStore) AuditLog(ctx context.Context, kitID string) ([]receipt.AuditEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, at, event, case_id, actor, prev_hash, hash FROM audit WHERE kit_id = $1 ORDER BY seq`, kitID)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []receipt.AuditEntry
	for rows.Next() {
		var e receipt.AuditEntry
		if err := rows.Scan(&e.Seq, &e.At, &e.Event, &e.CaseID, &e.Actor, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *pgStore) AddAudit(ctx context.Context, kitID string, entries []receipt.AuditEntry) (int64, error) {
	var last int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One batch per kit at a time, on any replica.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(4711002, hashtext($1))`, kitID); err != nil {
			return fmt.Errorf("add audit: %w", err)
		}
		var prev []byte
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit WHERE kit_id = $1 ORDER BY seq DESC LIMIT 1`, kitID).Scan(&last, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("add audit: %w", err)
		}
		stored := func(seq int64) ([]byte, error) {
			var h []byte
			return h, tx.QueryRow(ctx, `SELECT hash FROM audit WHERE kit_id = $1 AND seq = $2`, kitID, seq).Scan(&h)
		}
		insert := func(e receipt.AuditEntry) error {
			prevHash := e.PrevHash
			if prevHash == nil {
				prevHash = []byte{}
			}
			_, err := tx.Exec(ctx, `INSERT INTO audit (kit_id, seq, at, event, case_id, actor, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				kitID, e.Seq, e.At, e.Event, e.CaseID, e.Actor, prevHash, e.Hash)
			return err
		}
		last, err = appendChain(last, prev, entries, stored, insert)
		return err
	})
	if err != nil {
		return 0, err
	}
	return last, nil
}
