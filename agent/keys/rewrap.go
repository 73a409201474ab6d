package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// Version 2 of a caseworker's wrapping. The passphrase (argon2id) opens the caseworker's own
// age X25519 identity; the data key is sealed with age to that identity's recipient, which is
// stored in clear beside it. Sealing needs only the recipient, so when a caseworker is
// disabled the kit can make a new data key and seal it to every remaining caseworker without
// knowing their passphrases (Rewrap). Version 1 rows (the data key under the passphrase's key
// itself) are still read; they cannot be rewrapped and are upgraded at the caseworker's next
// login (Upgrade).

// ErrNeedsPassphrase is returned by Rewrap for a version 1 wrapping.
var ErrNeedsPassphrase = errors.New("wrapping predates rewrapping: the caseworker must log in once first")

func identityAD(recipient string) []byte {
	return []byte("koffer caseworker identity v2\x00" + recipient)
}

func wrapV2(k DataKey, passphrase []byte, p Params) ([]byte, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	rcpt := id.Recipient().String()
	w, err := boxWithPassphrase(2, passphrase, p, []byte(id.String()), identityAD(rcpt))
	if err != nil {
		return nil, err
	}
	w.Recipient = rcpt
	if w.Sealed, err = sealTo(k, rcpt); err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

func unwrapV2(w wrapped, passphrase []byte) (DataKey, error) {
	plain, err := openWithPassphrase(w, passphrase, identityAD(w.Recipient))
	if err != nil {
		return nil, err
	}
	id, err := age.ParseX25519Identity(string(plain))
	clear(plain)
	if err != nil || id.Recipient().String() != w.Recipient {
		return nil, fmt.Errorf("unwrap data key: identity does not match its recipient")
	}
	r, err := age.Decrypt(bytes.NewReader(w.Sealed), id)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	k, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil || len(k) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("unwrap data key: sealed key malformed")
	}
	return k, nil
}

// boxWithPassphrase encrypts plain with a key derived from passphrase (argon2id, a new salt)
// into a wrapping of the given version.
func boxWithPassphrase(version int, passphrase []byte, p Params, plain, ad []byte) (wrapped, error) {
	if len(passphrase) < MinPassphrase {
		return wrapped{}, fmt.Errorf("passphrase shorter than %d characters", MinPassphrase)
	}
	p = p.withDefaults()
	w := wrapped{Version: version, KDF: "argon2id", Params: p, Salt: make([]byte, 16)}
	if _, err := rand.Read(w.Salt); err != nil {
		return w, err
	}
	aead, err := chacha20poly1305.NewX(deriveKey(passphrase, w.Salt, p.Time, p.MemKiB, p.Threads))
	if err != nil {
		return w, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return w, err
	}
	w.Box = aead.Seal(nonce, nonce, plain, ad)
	return w, nil
}

// openWithPassphrase opens w.Box; ErrWrongPassphrase if passphrase does not.
func openWithPassphrase(w wrapped, passphrase, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(deriveKey(passphrase, w.Salt, w.Time, w.MemKiB, w.Threads))
	if err != nil {
		return nil, err
	}
	if len(w.Box) < aead.NonceSize() {
		return nil, fmt.Errorf("unwrap data key: truncated")
	}
	plain, err := aead.Open(nil, w.Box[:aead.NonceSize()], w.Box[aead.NonceSize():], ad)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return plain, nil
}

func sealTo(k DataKey, recipient string) ([]byte, error) {
	rcpt, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	wc, err := age.Encrypt(&buf, rcpt)
	if err != nil {
		return nil, err
	}
	if _, err := wc.Write(k); err != nil {
		return nil, err
	}
	if err := wc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Rewrap seals another data key into a caseworker's wrapping without their passphrase: the
// passphrase still opens the same identity, which now opens k. ErrNeedsPassphrase for a
// version 1 wrapping.
func Rewrap(blob []byte, k DataKey) ([]byte, error) {
	var w wrapped
	if err := json.Unmarshal(blob, &w); err != nil {
		return nil, fmt.Errorf("rewrap data key: %w", err)
	}
	if w.Version != 2 {
		return nil, ErrNeedsPassphrase
	}
	var err error
	if w.Sealed, err = sealTo(k, w.Recipient); err != nil {
		return nil, fmt.Errorf("rewrap data key: %w", err)
	}
	return json.Marshal(w)
}

// Upgrade returns a version 2 wrapping of k for a caseworker whose row still holds version 1,
// made at their login while the passphrase is at hand (nil when blob is version 2 already).
func Upgrade(blob []byte, k DataKey, passphrase []byte) ([]byte, error) {
	var w wrapped
	if err := json.Unmarshal(blob, &w); err != nil {
		return nil, fmt.Errorf("upgrade wrapping: %w", err)
	}
	if w.Version != 1 {
		return nil, nil
	}
	return wrapV2(k, passphrase, w.Params)
}
