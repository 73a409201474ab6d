package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"koffer/agent/keys/creds"
	"koffer/agent/keys/tpm"
	"koffer/sync/enroll"
)

// How the kit key is kept at rest (Kit.Protection).
const (
	ProtectNone  = "none"          // in kit.json, protected by file mode and disk encryption only
	ProtectTPM   = "tpm2"          // sealed to this machine's TPM 2.0
	ProtectCreds = "systemd-creds" // a systemd credential (host key, TPM-bound where systemd has one)
)

// Files of a wrapped kit key. kit.json then holds no private key.
const (
	TPMKeyFile  = "kit.key.tpm"  // the key's seed sealed by the TPM (JSON: TPM address, blobs)
	CredKeyFile = "kit.key.cred" // the key's seed as a systemd credential (LoadCredentialEncrypted=)
	CredName    = "koffer-kit-key"
)

// DefaultTPM is the kernel's TPM resource manager.
const DefaultTPM = tpm.DefaultDevice

// Protection says how SaveKitProtected keeps the kit key; the zero value keeps it in
// kit.json as before.
type Protection struct {
	TPM   string // TPM address (tpm.DefaultDevice, or "tcp:HOST:PORT" for swtpm)
	Creds bool   // a systemd credential
}

type tpmKey struct {
	Version int    `json:"v"`
	TPM     string `json:"tpm"`
	Blob    []byte `json:"blob"`
}

// SaveKitProtected writes the kit like SaveKit, but with the kit key's seed wrapped as p says
// and no private key in kit.json: the clear key never reaches the disk. The wrapped key is
// written before kit.json, so a crash leaves no kit rather than a kit without its key.
func SaveKitProtected(dir string, k *Kit, p Protection) error {
	if p == (Protection{}) {
		return SaveKit(dir, k)
	}
	if _, err := os.Stat(filepath.Join(dir, BundleFile)); err == nil {
		return fmt.Errorf("save kit: %s already exists: this kit is initialised", filepath.Join(dir, BundleFile))
	}
	if err := wrapKey(dir, k.Bundle, p); err != nil {
		return fmt.Errorf("save kit: %w", err)
	}
	bare := *k.Bundle
	bare.KeyPEM = ""
	return SaveKit(dir, &Kit{Bundle: &bare, Training: k.Training, TownHall: k.TownHall})
}

// ProtectKit wraps the key of a kit that keeps it in kit.json (initialised before wrapping
// existed, or without a TPM then) as p says, and rewrites kit.json without it. Old copies of
// kit.json (backups, the disk's free blocks) still hold the key: disk encryption covers those.
func ProtectKit(dir string, p Protection) error {
	if p == (Protection{}) {
		return errors.New("protect kit key: no TPM or systemd credential chosen")
	}
	k, err := LoadKit(dir)
	if err != nil {
		return fmt.Errorf("protect kit key: %w", err)
	}
	if k.Protection != ProtectNone {
		return fmt.Errorf("protect kit key: already wrapped (%s)", k.Protection)
	}
	if err := wrapKey(dir, k.Bundle, p); err != nil {
		return fmt.Errorf("protect kit key: %w", err)
	}
	bare := *k.Bundle
	bare.KeyPEM = ""
	b, err := bare.Marshal()
	if err != nil {
		return err
	}
	if err := writeSecret(dir, BundleFile, b); err != nil {
		return fmt.Errorf("protect kit key: %w", err)
	}
	return nil
}

// wrapKey seals the seed of b's key as p says into its file beside kit.json.
func wrapKey(dir string, b *enroll.Bundle, p Protection) error {
	sk, err := b.SigningKey()
	if err != nil {
		return err
	}
	seed := sk.Seed()
	defer clear(seed)
	if p.TPM != "" {
		t, err := tpm.Open(p.TPM)
		if err != nil {
			return err
		}
		blob, err := t.Seal(seed)
		_ = t.Close()
		if err != nil {
			return err
		}
		raw, err := json.Marshal(tpmKey{Version: 1, TPM: p.TPM, Blob: blob})
		if err != nil {
			return err
		}
		return writeSecret(dir, TPMKeyFile, raw)
	}
	cred, err := creds.Encrypt(context.Background(), CredName, seed)
	if err != nil {
		return err
	}
	return writeSecret(dir, CredKeyFile, cred)
}

// AutoProtection picks the strongest protection this machine offers: its TPM, else a
// systemd credential, else none (doctor warns).
func AutoProtection() Protection {
	switch {
	case tpm.Available():
		return Protection{TPM: tpm.DefaultDevice}
	case creds.Available():
		return Protection{Creds: true}
	}
	return Protection{}
}

// unwrapKitKey returns the PEM of the kit key kept beside kit.json, and how it was kept.
func unwrapKitKey(dir string) (string, string, error) {
	var seed []byte
	var how string
	if b, err := os.ReadFile(filepath.Join(dir, TPMKeyFile)); err == nil {
		var tk tpmKey
		if err := json.Unmarshal(b, &tk); err != nil || tk.Version != 1 || tk.TPM == "" {
			return "", "", fmt.Errorf("kit key: %s malformed", TPMKeyFile)
		}
		t, err := tpm.Open(tk.TPM)
		if err != nil {
			return "", "", fmt.Errorf("kit key: %w", err)
		}
		seed, err = t.Unseal(tk.Blob)
		_ = t.Close()
		if err != nil {
			return "", "", fmt.Errorf("kit key: %w", err)
		}
		how = ProtectTPM
	} else if b, err := os.ReadFile(filepath.Join(dir, CredKeyFile)); err == nil {
		if seed, err = creds.Decrypt(context.Background(), CredName, b); err != nil {
			return "", "", fmt.Errorf("kit key: %w", err)
		}
		how = ProtectCreds
	} else {
		return "", "", errors.New("kit key: kit.json holds none and no wrapped key is beside it")
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return "", "", errors.New("kit key: wrapped seed has the wrong size")
	}
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), how, nil
}
