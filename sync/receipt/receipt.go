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
package receipt

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Version is the receipt format version.
const Version = 1

// maxReceipt bounds what Verify accepts: a receipt is well under a kilobyte plus a certificate.
const maxReceipt = 16 << 10

const sigDomain = "koffer receipt signature v1\x00"

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

// Sign encodes and signs b.
func (s *Signer) Sign(b Body) ([]byte, error) {
	b.Version = Version
	payload, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	sig := ed25519.Sign(s.Key, append([]byte(sigDomain), payload...))
	return json.Marshal(envelope{Payload: payload, Cert: s.Cert.Raw, Sig: sig})
}

// Verify checks that raw is a receipt signed by a receipt key the CA certified, and returns
// its body. The caller checks that the body is for the case it committed.
func Verify(raw []byte, ca *x509.Certificate, now time.Time) (Body, error) {
	if len(raw) > maxReceipt {
		return Body{}, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, maxReceipt)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Body{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	cert, err := x509.ParseCertificate(env.Cert)
	if err != nil {
		return Body{}, fmt.Errorf("%w: certificate: %v", ErrMalformed, err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil || cert.Subject.CommonName != SignerName ||
		now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return Body{}, fmt.Errorf("%w: receipt key not certified by the town hall CA", ErrSignature)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !ed25519.Verify(pub, append([]byte(sigDomain), env.Payload...), env.Sig) {
		return Body{}, ErrSignature
	}
	var b Body
	if err := json.Unmarshal(env.Payload, &b); err != nil {
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

	// Retryable: upload again (from scratch or from the offset HEAD reports).
	CodeUploadMissing    = "upload_missing"    // the town hall has no such upload: create a new one
	CodeUploadIncomplete = "upload_incomplete" // HEAD and send the rest
	CodeUploadCorrupt    = "upload_corrupt"    // the bytes differ from the kit's hash: start over
	CodeInternal         = "internal"          // town hall trouble; retry later
)

// Final reports whether code is a refusal that no retry can change.
func Final(code string) bool {
	switch code {
	case CodeUnknownKit, CodeKitMismatch, CodeBadSignature, CodeBadPacket, CodeCaseConflict, CodeBadRequest:
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
