// Package enroll is the enrollment bundle: what a town hall hands a kit so that the kit can
// seal packets to it, sign them, and reach it over mutual TLS. `townhall kit add` writes one;
// `koffer init --enroll FILE` reads it.
package enroll

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"filippo.io/age"

	"koffer/sync/packet"
)

// Version is the bundle format this package writes and accepts.
const Version = 1

// maxBundle bounds what Parse reads: a bundle is a few kilobytes.
const maxBundle = 64 << 10

// Bundle is the JSON file a town hall issues to one kit. KeyPEM is the kit's Ed25519 private
// key (PKCS #8): it signs packets and is the key of the TLS client certificate, so the bundle
// file is a secret and travels to the kit out of band.
type Bundle struct {
	Version   int    `json:"version"`
	KitID     string `json:"kit_id"`
	URL       string `json:"url"`
	CAPEM     string `json:"ca_pem"`
	CertPEM   string `json:"cert_pem"`
	KeyPEM    string `json:"key_pem"`
	Recipient string `json:"recipient"`

	// Letterhead is what the kit prints as the issuing authority, set once by the town hall.
	Letterhead
}

// Letterhead is the issuing authority as printed on certificates. Every field is optional: a
// kit without one prints none (and no line starting with ", den").
type Letterhead struct {
	AuthorityName    string `json:"authority_name,omitempty"`    // "Stadt Musterstadt – Bürgeramt"
	AuthorityAddress string `json:"authority_address,omitempty"` // "Marktplatz 1, 12345 Musterstadt"
	Place            string `json:"place,omitempty"`             // place of issue: "Musterstadt"
}

// TrainingLetterhead is a training kit's letterhead: clearly marked values that no real
// authority has, so no training print passes for an official one.
var TrainingLetterhead = Letterhead{
	AuthorityName:    "Übungskommune – Bürgeramt (Schulung)",
	AuthorityAddress: "Übungsweg 1, 00000 Übungskommune",
	Place:            "Übungskommune",
}

// maxLetterheadField bounds each letterhead value: one printed line.
const maxLetterheadField = 120

// Validate refuses letterhead values that cannot be printed on one line: too long, not
// UTF-8, or with control characters.
func (l Letterhead) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"authority_name", l.AuthorityName}, {"authority_address", l.AuthorityAddress}, {"place", l.Place},
	} {
		if !utf8.ValidString(f.v) || utf8.RuneCountInString(f.v) > maxLetterheadField {
			return fmt.Errorf("%s: want UTF-8 text of at most %d characters", f.name, maxLetterheadField)
		}
		if strings.ContainsFunc(f.v, unicode.IsControl) {
			return fmt.Errorf("%s: control characters are not allowed", f.name)
		}
	}
	return nil
}

// Parse decodes and validates a bundle: every key and certificate must parse, the certificate
// must be the kit's, issued by the CA, and carry the bundled key.
func Parse(data []byte) (*Bundle, error) {
	if len(data) > maxBundle {
		return nil, fmt.Errorf("enrollment bundle: larger than %d bytes", maxBundle)
	}
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("enrollment bundle: %w", err)
	}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("enrollment bundle: %w", err)
	}
	return &b, nil
}

func (b *Bundle) validate() error {
	if b.Version != Version {
		return fmt.Errorf("version %d not supported (want %d)", b.Version, Version)
	}
	if !packet.ValidKitID(b.KitID) {
		return fmt.Errorf("kit_id %q: want letters, digits, '.', '_' or '-' (at most 64)", b.KitID)
	}
	if b.URL != "" {
		u, err := url.Parse(b.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("url %q: must be https://host[:port]", b.URL)
		}
	}
	if _, err := b.AgeRecipient(); err != nil {
		return err
	}
	if err := b.Letterhead.Validate(); err != nil {
		return err
	}
	ca, err := b.ca()
	if err != nil {
		return err
	}
	cert, err := b.cert()
	if err != nil {
		return err
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("kit certificate not issued by the bundled CA: %w", err)
	}
	if cert.Subject.CommonName != b.KitID {
		return fmt.Errorf("kit certificate is for %q, not %q", cert.Subject.CommonName, b.KitID)
	}
	key, err := b.SigningKey()
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return errors.New("kit certificate does not carry the bundled key")
	}
	return nil
}

// Marshal encodes the bundle as indented JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	return json.MarshalIndent(b, "", "  ")
}

// SigningKey is the kit's Ed25519 private key.
func (b *Bundle) SigningKey() (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(b.KeyPEM))
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("key_pem: no PKCS #8 private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key_pem: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("key_pem: not an Ed25519 key")
	}
	return key, nil
}

// PublicKey is the kit's Ed25519 public key, as the town hall verifies signatures with it.
func (b *Bundle) PublicKey() (ed25519.PublicKey, error) {
	cert, err := b.cert()
	if err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("cert_pem: not an Ed25519 certificate")
	}
	return pub, nil
}

// AgeRecipient is the town hall's X25519 recipient that packets are sealed to.
func (b *Bundle) AgeRecipient() (age.Recipient, error) {
	r, err := age.ParseX25519Recipient(b.Recipient)
	if err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	return r, nil
}

// ClientTLS is the kit's side of mutual TLS: its certificate, and the town hall's CA pinned as
// the only root.
func (b *Bundle) ClientTLS() (*tls.Config, error) {
	pair, err := tls.X509KeyPair([]byte(b.CertPEM), []byte(b.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("kit certificate: %w", err)
	}
	ca, err := b.ca()
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      roots,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// CertNotAfter is when the kit certificate expires (for doctor).
func (b *Bundle) CertNotAfter() (time.Time, error) {
	cert, err := b.cert()
	if err != nil {
		return time.Time{}, err
	}
	return cert.NotAfter, nil
}

func (b *Bundle) ca() (*x509.Certificate, error) { return parseCert("ca_pem", b.CAPEM) }

func (b *Bundle) cert() (*x509.Certificate, error) { return parseCert("cert_pem", b.CertPEM) }

func parseCert(field, s string) (*x509.Certificate, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no certificate", field)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return c, nil
}

// CA is a certificate authority that issues kit certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a self-signed Ed25519 CA named name, valid for ten years.
func NewCA(name string, now time.Time) (*CA, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// PEM is the CA certificate in PEM.
func (ca *CA) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
}

// Issue makes a new kit key and client certificate (valid two years) and the bundle around
// them. townhallURL may be empty for a kit that never syncs (training).
func (ca *CA) Issue(kitID, townhallURL, recipient string, now time.Time) (*Bundle, error) {
	if !packet.ValidKitID(kitID) {
		return nil, fmt.Errorf("kit name %q: want letters, digits, '.', '_' or '-' (at most 64)", kitID)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: kitID},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue kit certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	b := &Bundle{
		Version:   Version,
		KitID:     kitID,
		URL:       townhallURL,
		CAPEM:     ca.PEM(),
		CertPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		Recipient: recipient,
	}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("issued bundle invalid: %w", err)
	}
	return b, nil
}

// NewTraining makes a bundle for a kit that has no town hall (training mode, tests): a
// throwaway CA and town hall identity. The identity is returned so tests can open packets.
func NewTraining(kitID string) (*Bundle, *age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, nil, err
	}
	ca, err := NewCA("koffer training CA", time.Now())
	if err != nil {
		return nil, nil, err
	}
	b, err := ca.Issue(kitID, "", id.Recipient().String(), time.Now())
	if err != nil {
		return nil, nil, err
	}
	b.Letterhead = TrainingLetterhead
	return b, id, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}
