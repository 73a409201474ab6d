package store

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeFileSync writes data (or what write produces) to dir/name durably: a temporary file is
// written and fsynced, renamed into place and the directory fsynced. It returns the sha256 of
// the bytes written and their size.
func writeFileSync(dir string, name func(sum string) string, write func(io.Writer) error) (sum string, size int64, err error) {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	if err = write(cw); err != nil {
		return "", 0, err
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err = tmp.Close(); err != nil {
		return "", 0, err
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if err = os.Rename(tmp.Name(), filepath.Join(dir, name(sum))); err != nil {
		return "", 0, err
	}
	if err = syncDir(dir); err != nil {
		return "", 0, err
	}
	return sum, cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeFiles deletes the named files from dir and fsyncs dir once.
func removeFiles(dir string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return syncDir(dir)
}

// RemoveOrphans deletes files that no row names: temporary files and packets or blobs that a
// crash left between the file's fsync and the commit of its row. Call it only while no other
// writer is active (the agent calls it at start, holding the data directory lock).
func (s *Store) RemoveOrphans(ctx context.Context) (int, error) {
	known := map[string]bool{}
	collect := func(q string) error {
		rows, err := s.w.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			known[filepath.Base(v)] = true
		}
		return rows.Err()
	}
	if err := collect("SELECT packet_path FROM outbox WHERE done_at IS NULL"); err != nil {
		return 0, fmt.Errorf("remove orphans: %w", err)
	}
	if err := collect("SELECT sha256 FROM attachments"); err != nil {
		return 0, fmt.Errorf("remove orphans: %w", err)
	}
	n := 0
	for _, dir := range []string{s.pkts, s.blobs} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return n, fmt.Errorf("remove orphans: %w", err)
		}
		var gone []string
		for _, e := range ents {
			name := e.Name()
			if known[name] {
				continue
			}
			gone = append(gone, name)
		}
		if err := removeFiles(dir, gone); err != nil {
			return n, fmt.Errorf("remove orphans: %w", err)
		}
		n += len(gone)
	}
	if n > 0 {
		s.log.Info("orphanFilesRemoved", "count", n)
	}
	return n, nil
}

// seal encrypts plain with aead, binding it to ad; the nonce is prepended.
func seal(aead cipher.AEAD, plain, ad []byte) ([]byte, error) {
	if aead == nil {
		return nil, ErrNoKey
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, ad), nil
}

func open(aead cipher.AEAD, box, ad []byte) ([]byte, error) {
	if aead == nil {
		return nil, ErrNoKey
	}
	if len(box) < aead.NonceSize() {
		return nil, ErrDecrypt
	}
	plain, err := aead.Open(nil, box[:aead.NonceSize()], box[aead.NonceSize():], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}
