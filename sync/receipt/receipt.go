// Package receipt is the town hall's answer to a committed packet and the vocabulary of that
// answer: a receipt signed by a key the town hall's CA certified, and the error codes that tell
// the kit whether a refusal is final or worth retrying.
//
// On the wire a receipt is JSON:
//
//	{"payload": "<base64 JSON of Body>", "cert": "<base64 DER>", "sig": "<base64 Ed25519>"}
//
// The signature covers a domain string and the payload bytes exactly as sent, so nobody has to
// re-encode JSON to check it. The certificate is the town hall's receipt key, issued by the CA
// that the kit pins from its enrollment bundle; so the kit needs nothing beyond the bundle.
//
// The same key and envelope sign other documents of the town hall (visit packs) through
// SignPayload and VerifyPayload, each under its own domain string, so a signature made for one
// kind of document never verifies as another.
package receipt

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Version is the receipt format version.
const Version = 1

// maxReceipt bounds what Verify accepts: a receipt is well under a kilobyte plus a certificate.
const maxReceipt = 16 << 10

// Domain is the domain string of receipts (SignPayload, VerifyPayload).
const Domain = "koffer receipt signature v1"

// CommitHeader, on the answer to the tus request that completed an upload naming its case,
// says what the town hall made of the complete packet: CommitReceipt (the body is the signed
// receipt, exactly as POST /v1/packets answers it) or CommitRefused (the body is a Problem).
// An answer without it means: commit separately.
const (
	CommitHeader  = "Koffer-Commit"
	CommitReceipt = "receipt"
	CommitRefused = "refused"
)

// SignerName is the common name of the certificate of a town hall's receipt key.
const SignerName = "koffer town hall receipts"

// ReceiptSigning is the extended key usage only a receipt key's certificate carries:
// id-kp-documentSigning (RFC 9336). The name alone proves nothing: the same CA issues kit
// certificates (client auth only), and a kit must never be able to sign receipts.
var ReceiptSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// Certified reports whether cert is a receipt key's certificate by its usage: the dedicated
// extended key usage and no TLS client or server use.
func Certified(cert *x509.Certificate) bool {
	if len(cert.ExtKeyUsage) > 0 {
		return false
	}
	for _, u := range cert.UnknownExtKeyUsage {
		if u.Equal(ReceiptSigning) {
			return true
		}
	}
	return false
}

var (
	// ErrSignature means the receipt was not signed by a key the pinned CA certified.
	ErrSignature = errors.New("receipt signature invalid")
	// ErrMalformed means the receipt does not follow the format.
	ErrMalformed = errors.New("receipt malformed")
)

// Body is what the town hall confirms.
type Body struct {
	Version    int       `json:"version"`
	CaseID     string    `json:"case_id"`
	KitID      string    `json:"kit_id"`
	Number     string    `json:"number"`
	ReceivedAt time.Time `json:"received_at"`
	SHA256     string    `json:"packet_sha256"`
}

type envelope struct {
	Payload []byte `json:"payload"`
	Cert    []byte `json:"cert"`
	Sig     []byte `json:"sig"`
}

// Signer signs receipts with a key certified by the town hall's CA.
type Signer struct {
	Key  ed25519.PrivateKey
	Cert *x509.Certificate
}

// NewSigner makes a fresh receipt key and its certificate, issued by ca (signed with caKey)
// with the receipt usage, valid for ten years from now.
func NewSigner(ca *x509.Certificate, caKey crypto.Signer, now time.Time) (*Signer, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: n,
		Subject:      pkix.Name{CommonName: SignerName},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, UnknownExtKeyUsage: []asn1.ObjectIdentifier{ReceiptSigning},
	}, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("receipt key: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("receipt key: %w", err)
	}
	return &Signer{Key: key, Cert: cert}, nil
}

// Sign encodes and signs b.
func (s *Signer) Sign(b Body) ([]byte, error) {
	b.Version = Version
	payload, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	return s.SignPayload(Domain, payload)
}

// SignPayload signs payload under domain (a constant naming the kind of document and its
// version, without NUL) and returns the envelope.
func (s *Signer) SignPayload(domain string, payload []byte) ([]byte, error) {
	if domain == "" || strings.ContainsRune(domain, 0) {
		return nil, errors.New("sign: domain must be a non-empty string without NUL")
	}
	sig := ed25519.Sign(s.Key, signed(domain, payload))
	return json.Marshal(envelope{Payload: payload, Cert: s.Cert.Raw, Sig: sig})
}

// signed is what a signature covers: the domain, NUL, then the payload.
func signed(domain string, payload []byte) []byte {
	return append([]byte(domain+"\x00"), payload...)
}

// VerifyPayload checks that raw is an envelope signed under domain by a receipt key the CA
// certified and valid at now, and returns the payload exactly as signed. The caller bounds the
// size of raw.
func VerifyPayload(raw []byte, domain string, ca *x509.Certificate, now time.Time) ([]byte, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	cert, err := x509.ParseCertificate(env.Cert)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrMalformed, err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil || cert.Subject.CommonName != SignerName || !Certified(cert) ||
		now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%w: receipt key not certified by the town hall CA", ErrSignature)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !ed25519.Verify(pub, signed(domain, env.Payload), env.Sig) {
		return nil, ErrSignature
	}
	return env.Payload, nil
}

// Verify checks that raw is a receipt signed by a receipt key the CA certified, and returns
// its body. The caller checks that the body is for the case it committed.
func Verify(raw []byte, ca *x509.Certificate, now time.Time) (Body, error) {
	if len(raw) > maxReceipt {
		return Body{}, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, maxReceipt)
	}
	payload, err := VerifyPayload(raw, Domain, ca, now)
	if err != nil {
		return Body{}, err
	}
	var b Body
	if err := json.Unmarshal(payload, &b); err != nil {
		return Body{}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if b.Version != Version || b.CaseID == "" || b.Number == "" || b.ReceivedAt.IsZero() {
		return Body{}, fmt.Errorf("%w: fields missing or version %d", ErrMalformed, b.Version)
	}
	return b, nil
}

// ParseCA parses the PEM CA certificate of an enrollment bundle (Bundle.CAPEM).
func ParseCA(caPEM string) (*x509.Certificate, error) {
	blk, _ := pem.Decode([]byte(caPEM))
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("ca: no certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return c, nil
}

// Error codes of the commit answer (JSON {"code": ..., "message": ...}).
const (
	// Final refusals: the packet is parked with the code as reason.
	CodeUnknownKit   = "unknown_kit"   // the kit is not enrolled here (or was removed)
	CodeKitMismatch  = "kit_mismatch"  // packet header, upload or URL names another kit
	CodeBadSignature = "bad_signature" // the packet's signature does not verify
	CodeBadPacket    = "bad_packet"    // signature fine, but content malformed or hashes wrong
	CodeCaseConflict = "case_conflict" // another kit already delivered this case id
	CodeBadRequest   = "bad_request"   // request itself malformed (a kit bug)
	CodeRevoked      = "revoked"       // the kit was revoked (lost or stolen): every request is refused

	// Retryable: upload again (from scratch or from the offset HEAD reports).
	CodeUploadMissing    = "upload_missing"    // the town hall has no such upload: create a new one
	CodeUploadIncomplete = "upload_incomplete" // HEAD and send the rest
	CodeUploadCorrupt    = "upload_corrupt"    // the bytes differ from the kit's hash: start over
	CodeInternal         = "internal"          // town hall trouble; retry later
)

// Final reports whether code is a refusal that no retry can change.
func Final(code string) bool {
	switch code {
	case CodeUnknownKit, CodeKitMismatch, CodeBadSignature, CodeBadPacket, CodeCaseConflict, CodeBadRequest, CodeRevoked:
		return true
	}
	return false
}

// Problem is the JSON body of a refused commit.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CommitRequest is the JSON body of POST /v1/packets/{case-id}.
type CommitRequest struct {
	UploadID string `json:"upload_id"`
	SHA256   string `json:"packet_sha256"`
}
