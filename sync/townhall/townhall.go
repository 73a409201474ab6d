// Package townhall is the receiving side of koffer's sync: the reference town hall backend
// used by cmd/townhall. It keeps its own CA (kit client certificates, its server certificate,
// the certificate of its receipt key) and its age identity (packets are sealed to it) in its
// data directory; kits, uploads, cases, visit packs, audit logs and the back office's records
// in SQLite there or in PostgreSQL, and packets there or in an S3 bucket (storage.go, Connect).
// It serves over mutual TLS:
//
//	/files/                    tus 1.0 (tusd) for packet uploads; the request completing an
//	                           upload commits it and carries the receipt
//	POST /v1/packets/{case-id} commit an upload: verify, store, answer a signed receipt
//	PUT  /v1/visits/recipient  register the calling kit's visit-pack recipient (first one stays)
//	GET  /v1/visits            the visit packs sealed to the calling kit, until their day is over
//	DELETE /v1/visits/{id}     the kit has stored the pack: delete it here
//	GET  /v1/audit             how far the town hall holds the kit's audit log
//	POST /v1/audit             append a batch of the kit's hash-chained audit log
//
// The data directory is created on first use.
package townhall

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"
	tushandler "github.com/tus/tusd/v2/pkg/handler"

	"koffer/sync/enroll"
	"koffer/sync/packet"
	"koffer/sync/receipt"
	"koffer/sync/visit"
)

// Files in the data directory.
const (
	caCertFile      = "ca.pem"
	caKeyFile       = "ca.key"
	receiptCertFile = "receipt.pem"
	receiptKeyFile  = "receipt.key"
	identityFile    = "identity.txt"
	dbFile          = "townhall.db"
	uploadsDir      = "uploads"
	packetsDir      = "packets"
)

// ErrNotFound means the case, kit, packet or visit pack asked for does not exist.
var ErrNotFound = errors.New("townhall: not found")

// Options configure a town hall; zero values mean defaults.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// NetworkTimeout bounds each read of an upload body (tusd); default 10 s. Short, so a
	// dropped upload's lock is freed and the kit can resume at once.
	NetworkTimeout time.Duration
	// MaxPacket is the largest packet accepted; default 256 MiB.
	MaxPacket int64
	// MaxOpenUploads and MaxUploadBytes cap what one kit holds in uploads not yet committed
	// (default 8 uploads, 4 × MaxPacket bytes); UploadTTL is when such an upload is stale and
	// purged (default 24 h). See tusguard.go.
	MaxOpenUploads int
	MaxUploadBytes int64
	UploadTTL      time.Duration

	// Metadata, Packets and Uploads replace the embedded defaults in the data directory
	// (SQLite, packet files, tusd's filestore with an in-process locker); see Connect. The
	// town hall closes Metadata.
	Metadata Metadata
	Packets  Packets
	Uploads  Uploads
}

// Townhall is one town hall's state in its data directory.
type Townhall struct {
	dir      string
	log      *slog.Logger
	now      func() time.Time
	opts     Options
	ca       *enroll.CA
	signer   *receipt.Signer
	identity *age.X25519Identity
	db       Metadata
	packets  Packets
	uploads  Uploads

	commitMu keyedMutex    // one commit of a case at a time (tusguard.go)
	storing  chan struct{} // packets held in memory for the packet store (maxStoring)
	quotaMu  sync.Mutex    // one upload creation at a time checks the quota (tusguard.go)

	composerOnce sync.Once // the tusd store composer, shared by handler and janitor
	composer     *tushandler.StoreComposer
	composerErr  error
}

// Open opens the town hall in dir, creating the directory, CA, receipt key, age identity and
// database on first use.
func Open(ctx context.Context, dir string, opts Options) (*Townhall, error) {
	t := &Townhall{dir: dir, log: opts.Logger, now: opts.Now, storing: make(chan struct{}, maxStoring)}
	if t.log == nil {
		t.log = slog.Default()
	}
	t.log = t.log.With("subsystem", "townhall")
	if t.now == nil {
		t.now = time.Now
	}
	dirs := []string{dir}
	if opts.Packets == nil {
		dirs = append(dirs, filepath.Join(dir, packetsDir))
	}
	if opts.Uploads == nil {
		opts.Uploads = dirUploads{}
	}
	if d, ok := opts.Uploads.(dirUploads); ok && d.dir == "" {
		d.dir = filepath.Join(dir, uploadsDir)
		opts.Uploads = d
		dirs = append(dirs, d.dir)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open town hall: %w", err)
		}
	}
	var err error
	if t.ca, err = t.loadOrCreateCA(); err != nil {
		return nil, err
	}
	if t.signer, err = t.loadOrCreateReceiptKey(); err != nil {
		return nil, err
	}
	if t.identity, err = t.loadOrCreateIdentity(); err != nil {
		return nil, err
	}
	t.opts = opts
	t.packets, t.uploads, t.db = opts.Packets, opts.Uploads, opts.Metadata
	if t.packets == nil {
		t.packets = dirPackets{dir: filepath.Join(dir, packetsDir)}
	}
	if t.db == nil {
		if t.db, err = openSQLite(ctx, filepath.Join(dir, dbFile)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Close closes the metadata store.
func (t *Townhall) Close() error { return t.db.Close() }

// CA is the town hall's certificate authority.
func (t *Townhall) CA() *enroll.CA { return t.ca }

// Recipient is the age recipient kits seal packets to.
func (t *Townhall) Recipient() string { return t.identity.Recipient().String() }

func (t *Townhall) path(name string) string { return filepath.Join(t.dir, name) }

func (t *Townhall) loadOrCreateCA() (*enroll.CA, error) {
	cert, key, err := loadPair(t.path(caCertFile), t.path(caKeyFile))
	if err == nil {
		return &enroll.CA{Cert: cert, Key: key}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("town hall CA: %w", err)
	}
	ca, err := enroll.NewCA("koffer town hall CA", t.now())
	if err != nil {
		return nil, err
	}
	key, ok := ca.Key.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("town hall CA: key is not Ed25519")
	}
	if err := savePair(t.path(caCertFile), t.path(caKeyFile), ca.Cert, key); err != nil {
		return nil, fmt.Errorf("town hall CA: %w", err)
	}
	return ca, nil
}

func (t *Townhall) loadOrCreateReceiptKey() (*receipt.Signer, error) {
	cert, key, err := loadPair(t.path(receiptCertFile), t.path(receiptKeyFile))
	if err == nil && receipt.Certified(cert) {
		return &receipt.Signer{Key: key, Cert: cert}, nil
	}
	// A receipt certificate made before the dedicated usage existed is replaced: kits refuse it.
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("receipt key: %w", err)
	}
	s, err := receipt.NewSigner(t.ca.Cert, t.ca.Key, t.now())
	if err != nil {
		return nil, err
	}
	if err := savePair(t.path(receiptCertFile), t.path(receiptKeyFile), s.Cert, s.Key); err != nil {
		return nil, fmt.Errorf("receipt key: %w", err)
	}
	return s, nil
}

func (t *Townhall) loadOrCreateIdentity() (*age.X25519Identity, error) {
	b, err := os.ReadFile(t.path(identityFile))
	if err == nil {
		id, err := age.ParseX25519Identity(string(trimNL(b)))
		if err != nil {
			return nil, fmt.Errorf("town hall identity: %w", err)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("town hall identity: %w", err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := writeFileSync(t.path(identityFile), []byte(id.String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("town hall identity: %w", err)
	}
	return id, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (t *Townhall) issue(tmpl *x509.Certificate, pub ed25519.PublicKey) (*x509.Certificate, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = n
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.ca.Cert, pub, t.ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// ServerTLS is the server side of mutual TLS: a fresh server certificate from the town hall
// CA for localhost, 127.0.0.1, ::1 and hostnames (DNS names or IP addresses), and kit client
// certificates required and verified against the same CA.
func (t *Townhall) ServerTLS(hostnames ...string) (*tls.Config, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := t.now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "koffer town hall"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hostnames {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	cert, err := t.issue(tmpl, pub)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(t.ca.Cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// KitOptions are the optional values of a kit's enrollment bundle.
type KitOptions struct {
	Letterhead enroll.Letterhead // printed by the kit as the issuing authority
}

// AddKit enrolls a kit: issues its key and client certificate, records its public key, and
// returns the bundle for `koffer init --enroll`. url is how the kit reaches this town hall;
// opts (at most one) carries the letterhead the bundle takes to the kit.
func (t *Townhall) AddKit(ctx context.Context, kitID, url string, opts ...KitOptions) (*enroll.Bundle, error) {
	var o KitOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if err := o.Letterhead.Validate(); err != nil {
		return nil, fmt.Errorf("letterhead: %w", err)
	}
	b, err := t.ca.Issue(kitID, url, t.Recipient(), t.now())
	if err != nil {
		return nil, err
	}
	b.Letterhead = o.Letterhead
	pub, err := b.PublicKey()
	if err != nil {
		return nil, err
	}
	if err := t.db.AddKit(ctx, Kit{ID: kitID, PublicKey: pub, URL: url, EnrolledAt: t.now().UTC()}); err != nil {
		return nil, err
	}
	t.log.Info("kitEnrolled", "kit", kitID)
	return b, nil
}

// InboxEntry is one received case as `townhall inbox ls --json` prints it.
type InboxEntry struct {
	CaseID     string    `json:"case_id"`
	Service    string    `json:"service"`
	Kit        string    `json:"kit"`
	ReceivedAt time.Time `json:"received_at"`
	Receipt    string    `json:"receipt"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"packet_sha256"`
}

// Inbox lists the received cases, oldest first.
func (t *Townhall) Inbox(ctx context.Context) ([]InboxEntry, error) {
	rows, err := t.db.Cases(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]InboxEntry, 0, len(rows))
	for _, c := range rows {
		out = append(out, InboxEntry{CaseID: c.CaseID, Service: c.Service, Kit: c.KitID, ReceivedAt: c.ReceivedAt,
			Receipt: c.Number, Size: c.Size, SHA256: c.SHA256})
	}
	return out, nil
}

// KitVersion is the software version a kit last sent with its audit log ("" before that).
func (t *Townhall) KitVersion(ctx context.Context, kitID string) (string, error) {
	k, err := t.db.Kit(ctx, kitID)
	if err != nil {
		return "", fmt.Errorf("kit version: %w", err)
	}
	return k.Version, nil
}

// AuditLog returns the audit entries a kit has sent, in order.
func (t *Townhall) AuditLog(ctx context.Context, kitID string) ([]receipt.AuditEntry, error) {
	return t.db.AuditLog(ctx, kitID)
}

// OpenCase verifies and decrypts a received case's packet.
func (t *Townhall) OpenCase(ctx context.Context, caseID string) (*packet.Packet, error) {
	c, err := t.db.Case(ctx, caseID)
	if err != nil {
		return nil, err
	}
	k, err := t.db.Kit(ctx, c.KitID)
	if err != nil {
		return nil, fmt.Errorf("case %s: kit: %w", caseID, err)
	}
	data, err := t.packets.Packet(ctx, caseID)
	if errors.Is(err, ErrNotFound) {
		if p, ok, rerr := t.openRedacted(ctx, caseID); ok { // fingerprints deleted (backoffice.go)
			return p, rerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", caseID, err)
	}
	return packet.Open(data, ed25519.PublicKey(k.PublicKey), t.identity)
}

// ErrNoVisitRecipient means the kit has not registered its visit-pack key yet: it does so on
// its first sync after a caseworker logged in (the key is wrapped by the data key).
var ErrNoVisitRecipient = errors.New("kit has no visit-pack key registered yet: it registers one at its first sync after a caseworker login")

// AddVisits validates a visit pack, signs it for the kit with the receipt key, seals it to the
// kit's registered visit-pack recipient and queues it for GET /v1/visits until the kit
// acknowledges it (DELETE /v1/visits/{id}) or its visit day is over. It returns the pack's id.
func (t *Townhall) AddVisits(ctx context.Context, kitID string, pack []byte) (string, error) {
	k, err := t.db.Kit(ctx, kitID)
	if err != nil {
		return "", err
	}
	if k.VisitRecipient == "" {
		return "", fmt.Errorf("kit %s: %w", kitID, ErrNoVisitRecipient)
	}
	rcpt, err := age.ParseX25519Recipient(k.VisitRecipient)
	if err != nil {
		return "", fmt.Errorf("kit %s: visit recipient: %w", kitID, err)
	}
	sealed, p, err := visit.Seal(pack, kitID, t.signer, rcpt)
	if err != nil {
		return "", err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	v := VisitPack{ID: id.String(), CreatedAt: t.now().UTC(), VisitDate: p.Date, Pack: sealed}
	if err := t.db.AddVisit(ctx, kitID, v); err != nil {
		return "", err
	}
	t.log.Info("visitPackAdded", "kit", kitID, "visitPack", v.ID)
	return v.ID, nil
}

var errBadRecipient = errors.New("visit recipient is not an age X25519 recipient")

// SetVisitRecipient registers a kit's visit-pack recipient (what PUT /v1/visits/recipient
// does for the calling kit). The first one stays: another is refused.
func (t *Townhall) SetVisitRecipient(ctx context.Context, kitID, recipient string) error {
	if _, err := age.ParseX25519Recipient(recipient); err != nil {
		return fmt.Errorf("%w: %v", errBadRecipient, err)
	}
	if err := t.db.SetVisitRecipient(ctx, kitID, recipient); err != nil {
		return fmt.Errorf("kit %s: %w", kitID, err)
	}
	return nil
}

// VisitPacks lists the ids of the packs waiting for a kit.
func (t *Townhall) VisitPacks(ctx context.Context, kitID string) ([]string, error) {
	vs, err := t.db.Visits(ctx, kitID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	return ids, nil
}

// ExpireVisits deletes the packs whose visit day is over in the town hall's time zone.
func (t *Townhall) ExpireVisits(ctx context.Context) (int64, error) {
	return t.db.ExpireVisits(ctx, t.now().Format(time.DateOnly))
}

func loadPair(certPath, keyPath string) (*x509.Certificate, ed25519.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	blk, _ := pem.Decode(cb)
	if blk == nil {
		return nil, nil, fmt.Errorf("%s: no PEM", certPath)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	blk, _ = pem.Decode(kb)
	if blk == nil {
		return nil, nil, fmt.Errorf("%s: no PEM", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not Ed25519", keyPath)
	}
	return cert, key, nil
}

func savePair(certPath, keyPath string, cert *x509.Certificate, key ed25519.PrivateKey) error {
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileSync(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return err
	}
	return writeFileSync(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

// writeFileSync writes a file durably: temporary file, fsync, rename, fsync of the directory.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
