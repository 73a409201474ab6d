// Package store is the kit's durable state: one SQLite database (modernc.org/sqlite, WAL,
// synchronous=FULL) with embedded numbered migrations, plus content-addressed files for
// attachments and sealed packets. Every write that names a file happens after the file and its
// directory are fsynced, in one transaction with the rows it changes.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrState    = errors.New("case is not in a state that allows this")
	ErrNoKey    = errors.New("data key required")
	ErrDecrypt  = errors.New("stored data cannot be decrypted with this key")
)

// Options configure Open. Zero values mean default.
type Options struct {
	Logger      *slog.Logger
	Now         func() time.Time
	BusyTimeout time.Duration // default 5 s
	ReadConns   int           // size of the read pool, default 4
}

// Store is the kit's database and file area under one data directory.
type Store struct {
	dir    string
	w      *sql.DB // the only writer: one connection, BEGIN IMMEDIATE
	r      *sql.DB // readers (WAL lets them run beside the writer)
	log    *slog.Logger
	now    func() time.Time
	blobs  string
	pkts   string
	dbPath string
}

// File names inside the data directory.
const (
	DBName     = "koffer.db"
	BlobsDir   = "blobs"
	PacketsDir = "packets"
)

// DSN returns the connection string used for the kit database at path: the same pragmas for
// every connection (the benchmark uses it for its bare-insert peer).
func DSN(path string, busy time.Duration, readOnly bool) string {
	if busy <= 0 {
		busy = 5 * time.Second
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_txlock", "immediate")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the store in dir and applies pending migrations.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	s := &Store{
		dir:    dir,
		log:    opts.Logger.With("subsystem", "store"),
		now:    opts.Now,
		blobs:  filepath.Join(dir, BlobsDir),
		pkts:   filepath.Join(dir, PacketsDir),
		dbPath: filepath.Join(dir, DBName),
	}
	for _, d := range []string{dir, s.blobs, s.pkts} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	// Create the database file owner-only; SQLite gives its -wal and -shm files the same mode.
	if f, err := os.OpenFile(s.dbPath, os.O_CREATE|os.O_RDWR, 0o600); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	} else if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	w, err := sql.Open("sqlite", DSN(s.dbPath, opts.BusyTimeout, false))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s.w = w
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", DSN(s.dbPath, opts.BusyTimeout, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	r.SetMaxOpenConns(opts.ReadConns)
	s.r = r
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range res {
		s.log.Info("migrationApplied", "version", m.Source.Version)
	}
	return nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// Dir is the data directory.
func (s *Store) Dir() string { return s.dir }

// IntegrityCheck runs PRAGMA integrity_check and returns nil when it answers "ok".
func (s *Store) IntegrityCheck(ctx context.Context) error { return s.check(ctx, "integrity_check") }

// QuickCheck runs PRAGMA quick_check: the page and b-tree structure without comparing indexes
// to their tables, fast enough for every start of the agent.
func (s *Store) QuickCheck(ctx context.Context) error { return s.check(ctx, "quick_check") }

func (s *Store) check(ctx context.Context, pragma string) error {
	name := strings.ReplaceAll(pragma, "_", " ")
	rows, err := s.w.QueryContext(ctx, "PRAGMA "+pragma)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return fmt.Errorf("%s: %v", name, msgs)
}

// tx runs fn in one write transaction (BEGIN IMMEDIATE through the DSN).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}
