package store

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
)

// Audit events of disabling a caseworker.
const (
	EventCaseworkerDisabled = "caseworker.disabled"
	EventDataKeyRotated     = "data-key.rotated"
)

// Rekey is a rotation of the data key that disables one caseworker (docs/security.md).
type Rekey struct {
	Old, New cipher.AEAD
	Disable  string            // the caseworker to disable: their wrapping is erased
	Wrapped  map[string][]byte // name -> wrapping of the new key, for every other enabled caseworker
}

// UpdateWrapped replaces a caseworker's wrapping of the same data key (a version 1 wrapping
// upgraded at login).
func (s *Store) UpdateWrapped(ctx context.Context, name string, wrapped []byte) error {
	res, err := s.w.ExecContext(ctx, "UPDATE caseworkers SET wrapped = ? WHERE name = ? AND disabled = 0", wrapped, name)
	if err != nil {
		return fmt.Errorf("update wrapping: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("update wrapping: caseworker %q: %w", name, ErrNotFound)
	}
	return nil
}

// Caseworkers lists every caseworker, enabled or not, by name.
func (s *Store) Caseworkers(ctx context.Context) ([]Caseworker, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, name, wrapped, created_at, disabled FROM caseworkers ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("caseworkers: %w", err)
	}
	defer rows.Close()
	var out []Caseworker
	for rows.Next() {
		var cw Caseworker
		var at int64
		if err := rows.Scan(&cw.ID, &cw.Name, &cw.Wrapped, &at, &cw.Disabled); err != nil {
			return nil, fmt.Errorf("caseworkers: %w", err)
		}
		cw.CreatedAt = fromMS(at)
		out = append(out, cw)
	}
	return out, rows.Err()
}

// RotateDataKey disables a caseworker and moves everything the data key protects to a new
// key: draft steps, stored visit packs (in the database) and draft attachments (new blob
// files, written and fsynced before the transaction; the old ones removed after it). In the
// one transaction every other enabled caseworker gets their wrapping of the new key and the
// disabled one loses theirs, so no caseworker is ever left with a key that opens nothing.
// Attachment rows from before ad_version 2 are bound to their id on the way. The kit's
// agent must not run meanwhile (the caller holds its lock). visit.key is the caller's.
func (s *Store) RotateDataKey(ctx context.Context, r Rekey) error {
	if r.Old == nil || r.New == nil {
		return fmt.Errorf("rotate data key: %w", ErrNoKey)
	}
	type moved struct {
		a      Attachment
		newSum string
		size   int64
	}
	var blobs []moved
	var written []string
	cleanup := func() { _ = removeFiles(s.blobs, written) }
	atts, err := s.queryAttachments(ctx, "")
	if err != nil {
		return fmt.Errorf("rotate data key: %w", err)
	}
	for _, a := range atts {
		box, err := readFile(filepath.Join(s.blobs, a.SHA256))
		if err != nil {
			cleanup()
			return fmt.Errorf("rotate data key: attachment %d: %w", a.ID, err)
		}
		plain, err := open(r.Old, box, attachmentAD(a))
		if err != nil {
			cleanup()
			return fmt.Errorf("rotate data key: attachment %d: %w", a.ID, err)
		}
		bound := a
		bound.ADVersion = 2
		nbox, err := seal(r.New, plain, attachmentAD(bound))
		clear(plain)
		if err != nil {
			cleanup()
			return fmt.Errorf("rotate data key: %w", err)
		}
		sum, size, err := writeFileSync(s.blobs, func(sum string) string { return sum }, func(w io.Writer) error {
			_, err := w.Write(nbox)
			return err
		})
		if err != nil {
			cleanup()
			return fmt.Errorf("rotate data key: %w", err)
		}
		written = append(written, sum)
		blobs = append(blobs, moved{a: a, newSum: sum, size: size})
	}

	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkWrappings(ctx, tx, r); err != nil {
			return err
		}
		if err := rekeyRows(ctx, tx, "SELECT case_id, name, version, data FROM steps",
			func(sc func(...any) error) (string, []byte, []byte, []any, error) {
				var caseID, name string
				var version int64
				var box []byte
				err := sc(&caseID, &name, &version, &box)
				return caseID + "/" + name, box, stepAD(caseID, name, version), []any{caseID, name}, err
			}, "UPDATE steps SET data = ? WHERE case_id = ? AND name = ?", r); err != nil {
			return fmt.Errorf("steps: %w", err)
		}
		if err := rekeyRows(ctx, tx, "SELECT id, data FROM visit_packs",
			func(sc func(...any) error) (string, []byte, []byte, []any, error) {
				var id string
				var box []byte
				err := sc(&id, &box)
				return id, box, visitAD(id), []any{id}, err
			}, "UPDATE visit_packs SET data = ? WHERE id = ?", r); err != nil {
			return fmt.Errorf("visit packs: %w", err)
		}
		for _, b := range blobs {
			res, err := tx.ExecContext(ctx, "UPDATE attachments SET sha256 = ?, size = ?, ad_version = 2 WHERE id = ? AND sha256 = ?",
				b.newSum, b.size, b.a.ID, b.a.SHA256)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("attachment %d changed during the rotation", b.a.ID)
			}
		}
		for name, w := range r.Wrapped {
			if _, err := tx.ExecContext(ctx, "UPDATE caseworkers SET wrapped = ? WHERE name = ?", w, name); err != nil {
				return err
			}
		}
		var id int64
		if err := tx.QueryRowContext(ctx, "UPDATE caseworkers SET wrapped = x'', disabled = 1 WHERE name = ? RETURNING id", r.Disable).Scan(&id); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, EventCaseworkerDisabled, "", fmt.Sprint(id)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, EventDataKeyRotated, "", "")
	})
	if err != nil {
		cleanup()
		return fmt.Errorf("rotate data key: %w", err)
	}
	old := make([]string, 0, len(blobs))
	for _, b := range blobs {
		old = append(old, b.a.SHA256)
	}
	return s.removeBlobs(ctx, old)
}

// checkWrappings refuses a rotation that would leave an enabled caseworker without a
// wrapping of the new key, or that names one who is not there.
func checkWrappings(ctx context.Context, tx *sql.Tx, r Rekey) error {
	rows, err := tx.QueryContext(ctx, "SELECT name FROM caseworkers WHERE disabled = 0")
	if err != nil {
		return err
	}
	defer rows.Close()
	var enabled []string
	found := false
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		if n == r.Disable {
			found = true
			continue
		}
		enabled = append(enabled, n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("caseworker %q is not an enabled caseworker: %w", r.Disable, ErrNotFound)
	}
	var missing []string
	for _, n := range enabled {
		if _, ok := r.Wrapped[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 || len(r.Wrapped) != len(enabled) {
		sort.Strings(missing)
		return errors.New("the new data key is not wrapped for exactly the remaining caseworkers (missing: " + strings.Join(missing, ", ") + ")")
	}
	return nil
}

// rekeyRows re-encrypts one column of every row of a query inside tx.
func rekeyRows(ctx context.Context, tx *sql.Tx, query string,
	scan func(sc func(...any) error) (what string, box, ad []byte, key []any, err error), update string, r Rekey) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	type upd struct {
		box []byte
		key []any
	}
	var ups []upd
	for rows.Next() {
		what, box, ad, key, err := scan(rows.Scan)
		if err != nil {
			rows.Close()
			return err
		}
		plain, err := open(r.Old, box, ad)
		if err != nil {
			rows.Close()
			return fmt.Errorf("%s: %w", what, err)
		}
		nbox, err := seal(r.New, plain, ad)
		clear(plain)
		if err != nil {
			rows.Close()
			return err
		}
		ups = append(ups, upd{nbox, key})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range ups {
		if _, err := tx.ExecContext(ctx, update, append([]any{u.box}, u.key...)...); err != nil {
			return err
		}
	}
	return nil
}
