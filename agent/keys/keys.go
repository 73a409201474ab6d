// Package keys holds the kit's secrets: the data key that encrypts drafts and visit packs,
// wrapped for each caseworker by a key derived from their passphrase with argon2id; the
// visit-pack identity, wrapped by the data key; and the kit's enrollment (signing key, town
// hall recipient, TLS identity) on disk, its signing key sealed to the TPM or a systemd
// credential where the machine has one (see docs/security.md).
package keys

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"
	"koffer/sync/enroll"
)

// ErrWrongPassphrase is returned by Unwrap when the passphrase does not open the wrapped key.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// MinPassphrase is the shortest passphrase accepted for a caseworker.
const MinPassphrase = 10

// DataKey is the 32-byte key of drafts and visit packs. It exists in memory only while a
// caseworker is logged in.
type DataKey []byte

// NewDataKey makes a random data key.
func NewDataKey() (DataKey, error) {
	k := make(DataKey, chacha20poly1305.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// AEAD returns XChaCha20-Poly1305 keyed with k (random 24-byte nonces are safe with it).
func (k DataKey) AEAD() (cipher.AEAD, error) { return chacha20poly1305.NewX(k) }

// Wipe overwrites the key in memory.
func (k DataKey) Wipe() { clear(k) }

// Params are the argon2id cost parameters. Zero values mean the defaults (RFC 9106's second
// recommended option: 3 passes, 64 MiB, 4 lanes).
type Params struct {
	Time    uint32 `json:"t"`
	MemKiB  uint32 `json:"m"`
	Threads uint8  `json:"p"`
}

func (p Params) withDefaults() Params {
	if p.Time == 0 {
		p.Time = 3
	}
	if p.MemKiB == 0 {
		p.MemKiB = 64 * 1024
	}
	if p.Threads == 0 {
		p.Threads = 4
	}
	return p
}

type wrapped struct {
	Version int    `json:"v"`
	KDF     string `json:"kdf"`
	Params
	Salt []byte `json:"salt"`
	Box  []byte `json:"box"` // v1: nonce || XChaCha20-Poly1305(kek, data key); v2: of the caseworker's identity
	// Version 2 (rewrap.go): the caseworker's age recipient and the data key sealed to it.
	Recipient string `json:"recipient,omitempty"`
	Sealed    []byte `json:"sealed,omitempty"`
}

const wrapAD = "koffer data key v1"

// Wrap encrypts the data key for a caseworker: a key derived from passphrase opens their own
// identity, to which the data key is sealed (version 2, rewrap.go).
func Wrap(k DataKey, passphrase []byte, p Params) ([]byte, error) {
	return wrapV2(k, passphrase, p)
}

// wrapV1 is the first format: the data key encrypted with the passphrase's key itself. Kept
// for the tests of reading old rows.
func wrapV1(k DataKey, passphrase []byte, p Params) ([]byte, error) {
	w, err := boxWithPassphrase(1, passphrase, p, k, []byte(wrapAD))
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// Unwrap recovers the data key; ErrWrongPassphrase if passphrase is not the one it was wrapped
// with.
func Unwrap(blob, passphrase []byte) (DataKey, error) {
	var w wrapped
	if err := json.Unmarshal(blob, &w); err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	if (w.Version != 1 && w.Version != 2) || w.KDF != "argon2id" || w.Time == 0 || w.MemKiB == 0 || w.Threads == 0 || w.MemKiB > 4<<20 {
		return nil, fmt.Errorf("unwrap data key: unsupported format")
	}
	if w.Version == 2 {
		return unwrapV2(w, passphrase)
	}
	return openWithPassphrase(w, passphrase, []byte(wrapAD))
}

// Files of the kit's identity in the data directory.
const (
	BundleFile   = "kit.json"              // the enrollment bundle (a secret: 0600)
	TrainingFile = "training-townhall.key" // training only: the fake town hall's age identity
)

// ErrNotInitialised is returned when the data directory holds no kit identity.
var ErrNotInitialised = errors.New("kit not initialised: run koffer init")

// Kit is the kit's identity as loaded from the data directory.
type Kit struct {
	Bundle   *enroll.Bundle
	Training bool   // a training kit: its "town hall" is a throwaway identity on this disk
	TownHall string // training only: the age identity that opens this kit's packets
	// Protection is how the kit key was kept at rest (ProtectNone, ProtectTPM, ProtectCreds);
	// set by LoadKit.
	Protection string
}

// SaveKit writes the bundle (and for training kits the fake town hall identity) to dir,
// fsynced, readable by the owner only. It refuses to overwrite an existing kit.
func SaveKit(dir string, k *Kit) error {
	if _, err := os.Stat(filepath.Join(dir, BundleFile)); err == nil {
		return fmt.Errorf("save kit: %s already exists: this kit is initialised", filepath.Join(dir, BundleFile))
	}
	b, err := k.Bundle.Marshal()
	if err != nil {
		return fmt.Errorf("save kit: %w", err)
	}
	if k.Training {
		if err := writeSecret(dir, TrainingFile, []byte(k.TownHall+"\n")); err != nil {
			return fmt.Errorf("save kit: %w", err)
		}
	}
	if err := writeSecret(dir, BundleFile, b); err != nil {
		return fmt.Errorf("save kit: %w", err)
	}
	return nil
}

// LoadKit reads the kit identity from dir.
func LoadKit(dir string) (*Kit, error) {
	b, err := os.ReadFile(filepath.Join(dir, BundleFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotInitialised
	}
	if err != nil {
		return nil, fmt.Errorf("load kit: %w", err)
	}
	how := ProtectNone
	var bare enroll.Bundle
	if err := json.Unmarshal(b, &bare); err == nil && bare.KeyPEM == "" {
		// The key is wrapped beside kit.json (SaveKitProtected): unwrap it into memory only.
		if bare.KeyPEM, how, err = unwrapKitKey(dir); err != nil {
			return nil, fmt.Errorf("load kit: %w", err)
		}
		if b, err = json.Marshal(bare); err != nil {
			return nil, fmt.Errorf("load kit: %w", err)
		}
	}
	bundle, err := enroll.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("load kit: %w", err)
	}
	k := &Kit{Bundle: bundle, Protection: how}
	if id, err := os.ReadFile(filepath.Join(dir, TrainingFile)); err == nil {
		k.Training = true
		k.TownHall = string(trimNL(id))
	}
	return k, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func writeSecret(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".tmp-"+name)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
