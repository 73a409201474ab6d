package keys

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"
)

// visitKeyNext holds the visit key encrypted with the next data key while the data key is
// rotated: written before the database moves to the new key, renamed over visit.key after.
// A crash in between leaves both; OpenVisitKey then finds that visit.key does not open with
// the (new) data key and finishes the rename.
const visitKeyNext = VisitKeyFile + ".next"

// PrepareVisitKeyRotation encrypts the visit key, opened with the old data key, with the new
// one into visit.key.next (fsynced). Nothing to do (and no error) on a kit without a visit key.
func PrepareVisitKeyRotation(dir string, oldKey, newKey cipher.AEAD) error {
	id, err := OpenVisitKey(dir, oldKey)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	rcpt := id.Recipient().String()
	nonce := make([]byte, newKey.NonceSize(), newKey.NonceSize()+len(id.String())+newKey.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	b, err := json.Marshal(visitKey{Version: 1, Recipient: rcpt, Box: newKey.Seal(nonce, nonce, []byte(id.String()), visitKeyAD(rcpt))})
	if err != nil {
		return err
	}
	if err := writeSecret(dir, visitKeyNext, b); err != nil {
		return fmt.Errorf("visit key: %w", err)
	}
	return nil
}

// CommitVisitKeyRotation puts visit.key.next in place once the database holds the new data
// key; no error when there is nothing to commit.
func CommitVisitKeyRotation(dir string) error {
	err := os.Rename(filepath.Join(dir, visitKeyNext), filepath.Join(dir, VisitKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("visit key: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// AbortVisitKeyRotation removes visit.key.next after a rotation that did not happen.
func AbortVisitKeyRotation(dir string) { _ = os.Remove(filepath.Join(dir, visitKeyNext)) }

func finishVisitKeyRotation(dir string, dataKey cipher.AEAD) (*age.X25519Identity, error) {
	id, err := openVisitKeyFile(dir, visitKeyNext, dataKey)
	if err != nil {
		return nil, err
	}
	return id, CommitVisitKeyRotation(dir)
}
