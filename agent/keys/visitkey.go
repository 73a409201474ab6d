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

// VisitKeyFile holds the kit's visit-pack identity (age X25519), encrypted with the data key,
// beside its public recipient. The town hall seals visit packs to that recipient, so a pack
// opens only while a caseworker is logged in, and nothing in kit.json opens it.
const VisitKeyFile = "visit.key"

type visitKey struct {
	Version   int    `json:"v"`
	Recipient string `json:"recipient"`
	Box       []byte `json:"box"` // nonce || XChaCha20-Poly1305(data key, identity)
}

func visitKeyAD(recipient string) []byte { return []byte("koffer visit key v1\x00" + recipient) }

// EnsureVisitKey returns the kit's visit-pack identity from dir, opened with the data key, and
// makes one on first use (the first login after the data key exists).
func EnsureVisitKey(dir string, dataKey cipher.AEAD) (*age.X25519Identity, error) {
	id, err := OpenVisitKey(dir, dataKey)
	if !errors.Is(err, os.ErrNotExist) {
		return id, err
	}
	id, err = age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("visit key: %w", err)
	}
	rcpt := id.Recipient().String()
	nonce := make([]byte, dataKey.NonceSize(), dataKey.NonceSize()+len(id.String())+dataKey.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	b, err := json.Marshal(visitKey{Version: 1, Recipient: rcpt, Box: dataKey.Seal(nonce, nonce, []byte(id.String()), visitKeyAD(rcpt))})
	if err != nil {
		return nil, err
	}
	if err := writeSecret(dir, VisitKeyFile, b); err != nil {
		return nil, fmt.Errorf("visit key: %w", err)
	}
	return id, nil
}

// OpenVisitKey opens the visit-pack identity with the data key; an error wrapping
// os.ErrNotExist if the kit has none yet.
func OpenVisitKey(dir string, dataKey cipher.AEAD) (*age.X25519Identity, error) {
	if id, err := openVisitKeyFile(dir, VisitKeyFile, dataKey); err == nil || errors.Is(err, os.ErrNotExist) {
		return id, err
	} else if id2, err2 := finishVisitKeyRotation(dir, dataKey); err2 == nil {
		return id2, nil // a rotation stopped between the database and the file: finished now
	} else {
		return nil, err
	}
}

func openVisitKeyFile(dir, name string, dataKey cipher.AEAD) (*age.X25519Identity, error) {
	vk, err := readVisitKeyFile(dir, name)
	if err != nil {
		return nil, err
	}
	if len(vk.Box) < dataKey.NonceSize() {
		return nil, errors.New("visit key: truncated")
	}
	n := dataKey.NonceSize()
	plain, err := dataKey.Open(nil, vk.Box[:n], vk.Box[n:], visitKeyAD(vk.Recipient))
	if err != nil {
		return nil, fmt.Errorf("visit key: does not open with the data key: %w", err)
	}
	id, err := age.ParseX25519Identity(string(plain))
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("visit key: %w", err)
	}
	if id.Recipient().String() != vk.Recipient {
		return nil, errors.New("visit key: identity and recipient differ")
	}
	return id, nil
}

// VisitRecipient is the public half of the visit-pack identity, readable without the data key
// (the uplink registers it with the town hall); "" while the kit has none.
func VisitRecipient(dir string) (string, error) {
	vk, err := readVisitKey(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return vk.Recipient, nil
}

func readVisitKey(dir string) (*visitKey, error) { return readVisitKeyFile(dir, VisitKeyFile) }

func readVisitKeyFile(dir, name string) (*visitKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("visit key: %w", err)
	}
	var vk visitKey
	if err := json.Unmarshal(b, &vk); err != nil || vk.Version != 1 {
		return nil, fmt.Errorf("visit key: %s malformed", VisitKeyFile)
	}
	if _, err := age.ParseX25519Recipient(vk.Recipient); err != nil {
		return nil, fmt.Errorf("visit key: %w", err)
	}
	return &vk, nil
}

// RemoveVisitKey deletes the visit-pack identity (a revoked kit forgets it); no error if
// there is none.
func RemoveVisitKey(dir string) error {
	_ = os.Remove(filepath.Join(dir, visitKeyNext))
	err := os.Remove(filepath.Join(dir, VisitKeyFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("visit key: %w", err)
	}
	if err == nil {
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}
