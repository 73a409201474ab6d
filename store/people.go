package store

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Caseworker is a member of staff who can log in; Wrapped is the data key wrapped by a key
// derived from their passphrase (see agent/keys).
type Caseworker struct {
	ID        int64
	Name      string
	Wrapped   []byte
	CreatedAt time.Time
	Disabled  bool
}

// AddCaseworker stores a new caseworker; ErrExists if the name is taken.
func (s *Store) AddCaseworker(ctx context.Context, name string, wrapped []byte) (*Caseworker, error) {
	cw := &Caseworker{Name: name, Wrapped: wrapped, CreatedAt: s.now()}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO caseworkers(name, wrapped, created_at) VALUES (?,?,?)",
			name, wrapped, ms(cw.CreatedAt))
		if err != nil {
			if se := (*sqlite.Error)(nil); errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
				return fmt.Errorf("caseworker %q: %w", name, ErrExists)
			}
			return err
		}
		if cw.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventCaseworkerAdd, "", fmt.Sprint(cw.ID))
	})
	if err != nil {
		return nil, fmt.Errorf("add caseworker: %w", err)
	}
	return cw, nil
}

// Caseworker returns the caseworker of that name.
func (s *Store) Caseworker(ctx context.Context, name string) (*Caseworker, error) {
	var cw Caseworker
	var at int64
	err := s.r.QueryRowContext(ctx, "SELECT id, name, wrapped, created_at, disabled FROM caseworkers WHERE name = ?", name).
		Scan(&cw.ID, &cw.Name, &cw.Wrapped, &at, &cw.Disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("caseworker %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("caseworker: %w", err)
	}
	cw.CreatedAt = fromMS(at)
	return &cw, nil
}

// CaseworkerCount tells whether a data key exists yet (it is made with the first caseworker).
func (s *Store) CaseworkerCount(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM caseworkers").Scan(&n); err != nil {
		return 0, fmt.Errorf("count caseworkers: %w", err)
	}
	return n, nil
}

// VisitPack is the town hall's preparation of one visit day: appointments and register
// extracts, stored encrypted with the data key.
type VisitPack struct {
	ID         string
	VisitDate  string // YYYY-MM-DD
	ReceivedAt time.Time
}

func visitAD(id string) []byte { return []byte("visit\x00" + id) }

// PutVisitPack stores (or replaces) a visit pack encrypted with the data key.
func (s *Store) PutVisitPack(ctx context.Context, key cipher.AEAD, p VisitPack, data []byte) error {
	box, err := seal(key, data, visitAD(p.ID))
	if err != nil {
		return fmt.Errorf("put visit pack: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO visit_packs(id, visit_date, data, received_at) VALUES (?,?,?,?)
			ON CONFLICT(id) DO UPDATE SET visit_date = excluded.visit_date, data = excluded.data, received_at = excluded.received_at`,
			p.ID, p.VisitDate, box, ms(s.now())); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventVisitPackSaved, "", "kit")
	})
	if err != nil {
		return fmt.Errorf("put visit pack: %w", err)
	}
	return nil
}

// VisitPackData returns the decrypted pack.
func (s *Store) VisitPackData(ctx context.Context, key cipher.AEAD, id string) ([]byte, error) {
	var box []byte
	err := s.r.QueryRowContext(ctx, "SELECT data FROM visit_packs WHERE id = ?", id).Scan(&box)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("visit pack %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("visit pack: %w", err)
	}
	plain, err := open(key, box, visitAD(id))
	if err != nil {
		return nil, fmt.Errorf("visit pack %s: %w", id, err)
	}
	return plain, nil
}

// VisitPacks lists the stored packs, without their content.
func (s *Store) VisitPacks(ctx context.Context) ([]VisitPack, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, visit_date, received_at FROM visit_packs ORDER BY visit_date, id")
	if err != nil {
		return nil, fmt.Errorf("visit packs: %w", err)
	}
	defer rows.Close()
	var out []VisitPack
	for rows.Next() {
		var p VisitPack
		var at int64
		if err := rows.Scan(&p.ID, &p.VisitDate, &at); err != nil {
			return nil, fmt.Errorf("visit packs: %w", err)
		}
		p.ReceivedAt = fromMS(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeleteVisitPack removes a pack (after the visit day).
func (s *Store) DeleteVisitPack(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM visit_packs WHERE id = ?", id)
		return err
	})
}
