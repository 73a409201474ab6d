// Package packet builds, seals, signs, verifies and opens application packets: the one file a
// completed case becomes on the kit and the town hall receives.
//
// A packet file is a short clear-text header, an age ciphertext sealed to the town hall's
// X25519 key, and the kit's Ed25519 signature over both:
//
//	koffer-packet 1\n
//	case <case id>\n
//	kit <kit id>\n
//	\n
//	<age ciphertext of a tar stream: manifest.json, then each part>
//	<64-byte Ed25519 signature>
//
// The header names only ids, so the town hall can pick the kit's key and check the signature
// before decrypting anything. Once sealed, the kit itself cannot read a packet back.
package packet

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"
)

// Version is the packet format version written into header and manifest.
const Version = 1

const (
	magic        = "koffer-packet 1\n"
	maxHeader    = 512
	maxManifest  = 1 << 20
	manifestName = "manifest.json"
	sigDomain    = "koffer packet signature v1\x00"
)

// Part kinds.
const (
	KindForm        = "form"
	KindScan        = "scan"
	KindFingerprint = "fingerprint"
	KindSignature   = "signature"
	KindPhoto       = "photo"
)

var (
	// ErrSignature means the packet was not signed by the kit's key or was altered.
	ErrSignature = errors.New("packet signature invalid")
	// ErrMalformed means the packet does not follow the format.
	ErrMalformed = errors.New("packet malformed")
)

var (
	partName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)
	kitID    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Part is one file of a case: the form data, a scan, a fingerprint record, a signature image.
type Part struct {
	Name   string
	Kind   string
	Finger string
	Data   []byte
}

// PartInfo describes a part in the manifest.
type PartInfo struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Finger string `json:"finger,omitempty"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes the packet; it travels inside the ciphertext.
type Manifest struct {
	Version   int        `json:"version"`
	CaseID    string     `json:"case_id"`
	Service   string     `json:"service"`
	KitID     string     `json:"kit_id"`
	CreatedAt time.Time  `json:"created_at"`
	SealedAt  time.Time  `json:"sealed_at"`
	Parts     []PartInfo `json:"parts"`
}

// ValidKitID reports whether id can name a kit: letters, digits, '.', '_' and '-', at most 64.
// Kit names become certificate names, packet headers and paths, so one rule holds for all.
func ValidKitID(id string) bool { return kitID.MatchString(id) }

// Header is the clear-text part of a packet.
type Header struct {
	CaseID string
	KitID  string
}

// Packet is an opened packet.
type Packet struct {
	Manifest Manifest
	Parts    []Part
}

// Sealer seals packets of one kit.
type Sealer struct {
	KitID     string
	Key       ed25519.PrivateKey
	Recipient age.Recipient
	Now       func() time.Time // default time.Now
}

// Seal writes the packet of case m with parts to w. It fills in the manifest's version, kit,
// seal time and part list and returns the manifest as sealed. w receives the packet as it is
// produced; the caller fsyncs.
func (s *Sealer) Seal(w io.Writer, m Manifest, parts []Part) (Manifest, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	m.Version = Version
	m.KitID = s.KitID
	m.SealedAt = now().UTC()
	m.Parts = make([]PartInfo, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		if !partName.MatchString(p.Name) || p.Name == manifestName || seen[p.Name] {
			return Manifest{}, fmt.Errorf("seal: part name %q invalid or repeated", p.Name)
		}
		seen[p.Name] = true
		sum := sha256.Sum256(p.Data)
		m.Parts = append(m.Parts, PartInfo{
			Name: p.Name, Kind: p.Kind, Finger: p.Finger,
			Size: int64(len(p.Data)), SHA256: hex.EncodeToString(sum[:]),
		})
	}
	hdr := Header{CaseID: m.CaseID, KitID: m.KitID}
	if err := hdr.validate(); err != nil {
		return Manifest{}, fmt.Errorf("seal: %w", err)
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return Manifest{}, fmt.Errorf("seal: %w", err)
	}

	entries := make([]Part, 0, len(parts)+1)
	entries = append(entries, Part{Name: manifestName, Data: manifest})
	entries = append(entries, parts...)
	if err := s.write(w, hdr, entries); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// write produces the packet file: header, the age-encrypted tar of entries in order, and the
// signature over everything before it. It checks nothing: Seal does, and tests use it to build
// the hostile packets Open must refuse.
func (s *Sealer) write(w io.Writer, hdr Header, entries []Part) error {
	// Everything before the signature is hashed as it is written.
	h := sha256.New()
	out := io.MultiWriter(w, h)
	if _, err := io.WriteString(out, hdr.encode()); err != nil {
		return fmt.Errorf("seal: write header: %w", err)
	}
	enc, err := age.Encrypt(out, s.Recipient)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	tw := tar.NewWriter(enc)
	for _, e := range entries {
		if err := writeEntry(tw, e.Name, e.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	sig := ed25519.Sign(s.Key, signed(h.Sum(nil)))
	if _, err := w.Write(sig); err != nil {
		return fmt.Errorf("seal: write signature: %w", err)
	}
	return nil
}

func writeEntry(tw *tar.Writer, name string, data []byte) error {
	// A fixed mode and time: the tar headers carry nothing about the kit or the moment.
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("seal: %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("seal: %s: %w", name, err)
	}
	return nil
}

func signed(digest []byte) []byte { return append([]byte(sigDomain), digest...) }

func (h Header) encode() string {
	return magic + "case " + h.CaseID + "\nkit " + h.KitID + "\n\n"
}

func (h Header) validate() error {
	id, err := uuid.Parse(h.CaseID)
	if err != nil || id.String() != h.CaseID {
		return fmt.Errorf("case id %q is not a canonical UUID", h.CaseID)
	}
	if !kitID.MatchString(h.KitID) {
		return fmt.Errorf("kit id %q invalid", h.KitID)
	}
	return nil
}

// ReadHeader parses the clear-text header of a packet.
func ReadHeader(data []byte) (Header, error) {
	h, _, err := splitHeader(data)
	return h, err
}

func splitHeader(data []byte) (Header, int, error) {
	head := data[:min(len(data), maxHeader)]
	if !bytes.HasPrefix(head, []byte(magic)) {
		return Header{}, 0, fmt.Errorf("%w: no packet header", ErrMalformed)
	}
	// The blank line ends the header; search after the magic so the two cannot overlap.
	end := bytes.Index(head[len(magic):], []byte("\n\n"))
	if end < 0 {
		return Header{}, 0, fmt.Errorf("%w: no end of header", ErrMalformed)
	}
	end += len(magic)
	lines := bytes.Split(head[len(magic):end], []byte("\n"))
	if len(lines) != 2 || !bytes.HasPrefix(lines[0], []byte("case ")) || !bytes.HasPrefix(lines[1], []byte("kit ")) {
		return Header{}, 0, fmt.Errorf("%w: header fields", ErrMalformed)
	}
	h := Header{CaseID: string(lines[0][len("case "):]), KitID: string(lines[1][len("kit "):])}
	if err := h.validate(); err != nil {
		return Header{}, 0, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return h, end + 2, nil
}

// Verify checks the kit's signature over the whole packet and returns its header.
func Verify(data []byte, kitKey ed25519.PublicKey) (Header, error) {
	h, body, err := splitHeader(data)
	if err != nil {
		return Header{}, err
	}
	if len(data)-body < ed25519.SignatureSize {
		return Header{}, fmt.Errorf("%w: truncated", ErrMalformed)
	}
	n := len(data) - ed25519.SignatureSize
	digest := sha256.Sum256(data[:n])
	if len(kitKey) != ed25519.PublicKeySize || !ed25519.Verify(kitKey, signed(digest[:]), data[n:]) {
		return Header{}, ErrSignature
	}
	return h, nil
}

// Open verifies the packet with the kit's public key, decrypts it with the town hall's
// identity, and checks every part against the manifest.
func Open(data []byte, kitKey ed25519.PublicKey, id age.Identity) (*Packet, error) {
	h, err := Verify(data, kitKey)
	if err != nil {
		return nil, err
	}
	_, body, _ := splitHeader(data)
	dec, err := age.Decrypt(bytes.NewReader(data[body:len(data)-ed25519.SignatureSize]), id)
	if err != nil {
		return nil, fmt.Errorf("open packet: decrypt: %w", err)
	}
	return readParts(h, tar.NewReader(dec), int64(len(data)), true)
}

// VerifyStream checks a packet of size bytes as Open does (the kit's signature first, then,
// decrypted, the manifest and every part's hash) but keeps no part in memory: it reads the
// packet twice through open, once for the signature and once to decrypt. It returns the
// header, the manifest and the sha256 of the whole packet, so a caller that stores the bytes
// afterwards can check it stored the ones verified. Memory stays at a few buffers whatever
// the size (BenchmarkVerifyStream). Header and sha256 are returned as soon as they are known,
// even with an error: a sha256 that differs from the sender's means a transfer fault rather
// than a bad signature.
func VerifyStream(open func() (io.ReadCloser, error), size int64, kitKey ed25519.PublicKey, id age.Identity) (Header, Manifest, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	n := size - ed25519.SignatureSize
	if n < int64(len(magic)) {
		return Header{}, Manifest{}, sum, fmt.Errorf("%w: truncated", ErrMalformed)
	}
	rc, err := open()
	if err != nil {
		return Header{}, Manifest{}, sum, fmt.Errorf("verify packet: %w", err)
	}
	whole, covered := sha256.New(), sha256.New()
	signedPart := io.TeeReader(io.LimitReader(rc, n), io.MultiWriter(whole, covered))
	// The whole packet is read even when its header is bad, so the caller learns its sha256.
	head := make([]byte, min(int64(maxHeader), n))
	_, err = io.ReadFull(signedPart, head)
	if err == nil {
		var rest int64
		rest, err = io.Copy(io.Discard, signedPart)
		if err == nil && rest != n-int64(len(head)) {
			err = fmt.Errorf("%w: truncated", ErrMalformed)
		}
	}
	sig := make([]byte, ed25519.SignatureSize)
	if err == nil {
		_, err = io.ReadFull(rc, sig)
	}
	_ = rc.Close()
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("verify packet: %w", err)
		}
		return Header{}, Manifest{}, sum, err
	}
	whole.Write(sig)
	copy(sum[:], whole.Sum(nil))
	h, body, err := splitHeader(head)
	if err != nil {
		return Header{}, Manifest{}, sum, err
	}
	if len(kitKey) != ed25519.PublicKeySize || !ed25519.Verify(kitKey, signed(covered.Sum(nil)), sig) {
		return h, Manifest{}, sum, ErrSignature
	}

	rc, err = open()
	if err != nil {
		return h, Manifest{}, sum, fmt.Errorf("verify packet: %w", err)
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, int64(body)); err != nil {
		return h, Manifest{}, sum, fmt.Errorf("verify packet: %w", err)
	}
	dec, err := age.Decrypt(io.LimitReader(rc, n-int64(body)), id)
	if err != nil {
		return h, Manifest{}, sum, fmt.Errorf("open packet: decrypt: %w", err)
	}
	p, err := readParts(h, tar.NewReader(dec), size, false)
	if err != nil {
		return h, Manifest{}, sum, err
	}
	return h, p.Manifest, sum, nil
}

// readParts reads the manifest and the parts it lists from a decrypted packet, checking each
// part's size and hash; keep says whether the parts' data is returned or only hashed.
// limit bounds any part's size (the packet's own).
func readParts(h Header, tr *tar.Reader, limit int64, keep bool) (*Packet, error) {
	raw, err := readEntry(tr, manifestName, maxManifest)
	if err != nil {
		return nil, err
	}
	var p Packet
	if err := json.Unmarshal(raw, &p.Manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	m := p.Manifest
	if m.Version != Version || m.CaseID != h.CaseID || m.KitID != h.KitID {
		return nil, fmt.Errorf("%w: manifest does not match header", ErrMalformed)
	}
	seen := make(map[string]bool, len(m.Parts))
	for _, info := range m.Parts {
		if !partName.MatchString(info.Name) || info.Size < 0 || info.Size > limit {
			return nil, fmt.Errorf("%w: part %q", ErrMalformed, info.Name)
		}
		// A repeated or reserved name would let a later entry stand in for a verified one
		// wherever parts are looked up or written out by name.
		if info.Name == manifestName || seen[info.Name] {
			return nil, fmt.Errorf("%w: part name %q repeated or reserved", ErrMalformed, info.Name)
		}
		seen[info.Name] = true
		th, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, info.Name, err)
		}
		if th.Name != info.Name || th.Size != info.Size {
			return nil, fmt.Errorf("%w: expected %s, found %q", ErrMalformed, info.Name, th.Name)
		}
		sum := sha256.New()
		var b []byte
		var got int64
		if keep {
			b, err = io.ReadAll(io.LimitReader(tr, info.Size))
			sum.Write(b)
			got = int64(len(b))
		} else {
			got, err = io.Copy(sum, io.LimitReader(tr, info.Size))
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, info.Name, err)
		}
		if got != info.Size || hex.EncodeToString(sum.Sum(nil)) != info.SHA256 {
			return nil, fmt.Errorf("%w: part %q does not match its hash", ErrMalformed, info.Name)
		}
		if keep {
			p.Parts = append(p.Parts, Part{Name: info.Name, Kind: info.Kind, Finger: info.Finger, Data: b})
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the last part", ErrMalformed)
	}
	return &p, nil
}

func readEntry(tr *tar.Reader, name string, limit int64) ([]byte, error) {
	th, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	if th.Name != name || th.Size > limit {
		return nil, fmt.Errorf("%w: expected %s, found %q", ErrMalformed, name, th.Name)
	}
	b, err := io.ReadAll(io.LimitReader(tr, limit))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	return b, nil
}
