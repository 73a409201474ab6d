package townhall

// What the back office (package backoffice) needs of the town hall: cases with filters, hand-over,
// deletion of fingerprints, the fleet, revocation, staff accounts and the town hall's own
// audit log. Everything here stores ids, staff names and times; citizens' data stays inside the
// packets.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"filippo.io/age"

	"koffer/sync/packet"
	"koffer/sync/receipt"
)

// Staff roles (stored lowercase; the back office shows "Sachbearbeitung" and "Administration").
const (
	RoleCaseworker = "sachbearbeitung"
	RoleAdmin      = "administration"
)

// ErrExists means the account or record is there already.
var ErrExists = errors.New("townhall: exists already")

// VersionHeader is how a kit names its software version; the fleet view shows it.
const VersionHeader = "Koffer-Version"

// CaseFilter narrows Cases; empty fields match everything.
type CaseFilter struct {
	Kit        string
	Service    string
	Caseworker string
}

// CaseSummary is one received case as the back office lists it.
type CaseSummary struct {
	CaseID     string
	Number     string
	Service    string
	Kit        string
	ReceivedAt time.Time
	Size       int64
	// Late and AppliedAt come from the packet's form.json.
	Late      bool
	AppliedAt time.Time
	// Caseworker is the actor the kit's audit log names for the case ("" until it arrives).
	Caseworker            string
	HandedOverAt          time.Time
	HandedOverBy          string
	FingerprintsDeletedAt time.Time
}

// Cases lists received cases matching f, oldest first. Facts only the packet holds (late flag,
// application time) are read from the packet once and kept.
func (t *Townhall) Cases(ctx context.Context, f CaseFilter) ([]CaseSummary, error) {
	rows, err := t.db.CaseListings(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]CaseSummary, 0, len(rows))
	for _, r := range rows {
		if f.Caseworker != "" && f.Caseworker != r.Caseworker {
			continue
		}
		c := r.CaseSummary
		if !r.FactsKnown {
			if err := t.learnFacts(ctx, &c); err != nil {
				t.log.Warn("caseFacts", "case", c.CaseID, "err", err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// CaseSummary returns one case as Cases lists it.
func (t *Townhall) CaseSummary(ctx context.Context, caseID string) (CaseSummary, error) {
	all, err := t.Cases(ctx, CaseFilter{})
	if err != nil {
		return CaseSummary{}, err
	}
	for _, c := range all {
		if c.CaseID == caseID {
			return c, nil
		}
	}
	return CaseSummary{}, fmt.Errorf("case %s: %w", caseID, ErrNotFound)
}

// learnFacts reads the late flag and application time from the case's form.json and stores them.
func (t *Townhall) learnFacts(ctx context.Context, c *CaseSummary) error {
	p, err := t.OpenCase(ctx, c.CaseID)
	if err != nil {
		return err
	}
	var form struct {
		Late      bool      `json:"late"`
		AppliedAt time.Time `json:"applied_at"`
	}
	for _, part := range p.Parts {
		if part.Kind == packet.KindForm {
			// A form the back office cannot read is still shown; the facts stay empty.
			_ = json.Unmarshal(part.Data, &form)
		}
	}
	if form.AppliedAt.IsZero() {
		form.AppliedAt = p.Manifest.CreatedAt
	}
	c.Late, c.AppliedAt = form.Late, form.AppliedAt
	return t.db.AddCaseFacts(ctx, c.CaseID, form.Late, form.AppliedAt)
}

// MarkHandedOver records that a case went to the registration software (target names where).
func (t *Townhall) MarkHandedOver(ctx context.Context, caseID, actor, target string) error {
	if _, err := t.db.Case(ctx, caseID); err != nil {
		return err
	}
	now := t.now()
	return t.db.AddHandover(ctx, Handover{CaseID: caseID, At: now, Actor: actor, Target: target},
		AuditRecord{At: now, Actor: actor, Event: "caseHandedOver", CaseID: caseID, Detail: target})
}

// redacted is a case's content after its fingerprints were deleted: the manifest the kit signed
// (with every part's hash, so what is kept is still checked) and the kept parts, sealed to the
// town hall's own age identity.
type redacted struct {
	Manifest packet.Manifest `json:"manifest"`
	Parts    []packet.Part   `json:"parts"`
}

// DeleteFingerprints deletes a case's fingerprint records at the town hall: the packet is
// replaced by a copy without them (written durably before the packet is removed), and the
// deletion is audited under rule. It returns how many records were deleted; deleting again
// deletes nothing and returns 0.
func (t *Townhall) DeleteFingerprints(ctx context.Context, caseID, actor, rule string) (int, error) {
	c, err := t.db.Case(ctx, caseID)
	if err != nil {
		return 0, err
	}
	if done, err := t.db.FingerprintsDeleted(ctx, caseID); err != nil {
		return 0, fmt.Errorf("delete fingerprints: %w", err)
	} else if done {
		return 0, nil
	}
	n := 0
	data, err := t.packets.Packet(ctx, caseID)
	switch {
	case err == nil:
		k, err := t.db.Kit(ctx, c.KitID)
		if err != nil {
			return 0, fmt.Errorf("delete fingerprints: kit: %w", err)
		}
		p, err := packet.Open(data, ed25519.PublicKey(k.PublicKey), t.identity)
		if err != nil {
			return 0, fmt.Errorf("delete fingerprints: %w", err)
		}
		r := redacted{Manifest: p.Manifest}
		for _, part := range p.Parts {
			if part.Kind == packet.KindFingerprint {
				n++
				continue
			}
			r.Parts = append(r.Parts, part)
		}
		sealed, err := t.sealToSelf(r)
		if err != nil {
			return 0, fmt.Errorf("delete fingerprints: %w", err)
		}
		// The copy is durable before the packet goes: a crash in between keeps both, and
		// deleting again finishes the job.
		if err := t.packets.PutRedacted(ctx, caseID, sealed); err != nil {
			return 0, fmt.Errorf("delete fingerprints: %w", err)
		}
		if err := t.packets.DeletePacket(ctx, caseID); err != nil {
			return 0, fmt.Errorf("delete fingerprints: %w", err)
		}
	case errors.Is(err, ErrNotFound):
		// An earlier attempt got as far as deleting the packet: its redacted copy's signed
		// manifest still counts what was deleted.
		if p, ok, err := t.openRedacted(ctx, caseID); err != nil {
			return 0, fmt.Errorf("delete fingerprints: %w", err)
		} else if ok {
			for _, pi := range p.Manifest.Parts {
				if pi.Kind == packet.KindFingerprint {
					n++
				}
			}
		}
	default:
		return 0, fmt.Errorf("delete fingerprints: %w", err)
	}
	now := t.now()
	err = t.db.AddFingerprintDeletion(ctx, FingerprintDeletion{CaseID: caseID, At: now, Actor: actor, Rule: rule, Parts: n},
		AuditRecord{At: now, Actor: actor, Event: "fingerprintsDeleted", CaseID: caseID, Detail: fmt.Sprintf("%s; %d", rule, n)})
	if err != nil {
		return 0, fmt.Errorf("delete fingerprints: %w", err)
	}
	t.log.Info("fingerprintsDeleted", "case", caseID, "records", n)
	return n, nil
}

func (t *Townhall) sealToSelf(r redacted) ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, t.identity.Recipient())
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(js); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// openRedacted opens the copy of a case kept after its fingerprints were deleted; ok is false
// when there is none. Every kept part must still match the hash the kit signed.
func (t *Townhall) openRedacted(ctx context.Context, caseID string) (p *packet.Packet, ok bool, err error) {
	data, err := t.packets.Redacted(ctx, caseID)
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("case %s: %w", caseID, err)
	}
	rd, err := age.Decrypt(bytes.NewReader(data), t.identity)
	if err != nil {
		return nil, true, fmt.Errorf("case %s: %w", caseID, err)
	}
	js, err := io.ReadAll(rd)
	if err != nil {
		return nil, true, fmt.Errorf("case %s: %w", caseID, err)
	}
	var r redacted
	if err := json.Unmarshal(js, &r); err != nil {
		return nil, true, fmt.Errorf("case %s: %w", caseID, err)
	}
	want := map[string]string{}
	for _, pi := range r.Manifest.Parts {
		want[pi.Name] = pi.SHA256
	}
	p = &packet.Packet{Manifest: r.Manifest}
	for _, part := range r.Parts {
		sum := sha256.Sum256(part.Data)
		if fmt.Sprintf("%x", sum) != want[part.Name] {
			return nil, true, fmt.Errorf("case %s: part %s: %w", caseID, part.Name, packet.ErrMalformed)
		}
		p.Parts = append(p.Parts, part)
	}
	return p, true, nil
}

// KitStatus is one kit in the fleet view. Zero times mean unknown.
type KitStatus struct {
	ID           string
	URL          string
	EnrolledAt   time.Time
	LastContact  time.Time
	CertNotAfter time.Time
	Version      string
	Received     int
	LastCase     time.Time
	RevokedAt    time.Time
	RevokedBy    string
	RevokeReason string
	// AllowedBy names the administrator who let the revoked kit deliver what it sealed before.
	AllowedBy string
	// QueueReportedAt is when the kit last reported its outbox (zero: never; then the queue
	// fields are unknown, not zero).
	QueueReportedAt time.Time
	QueueDepth      int
	Parked          int
	// OldestWaiting is when the oldest packet waiting on the kit was sealed (zero: none).
	OldestWaiting time.Time
	// AuditBrokenSeq is the first entry of the kit's audit log whose hash does not hold; 0:
	// the chain holds (auditcheck.go).
	AuditBrokenSeq int64
}

// Revoked reports whether the kit is revoked.
func (k KitStatus) Revoked() bool { return !k.RevokedAt.IsZero() }

// Fleet lists every enrolled kit.
func (t *Townhall) Fleet(ctx context.Context) ([]KitStatus, error) {
	out, err := t.db.Fleet(ctx)
	if err != nil {
		return nil, err
	}
	return out, t.flagAuditBreaks(ctx, out) // auditcheck.go
}

// RevokeKit shuts a kit out: from this moment every request it makes is refused with 403 and
// code "revoked" (the check reads the database, so every replica refuses it). Revoking again
// changes nothing. A revoked kit is re-enrolled under a new name with a new bundle.
func (t *Townhall) RevokeKit(ctx context.Context, kitID, actor, reason string) error {
	if _, err := t.db.Kit(ctx, kitID); err != nil {
		return err
	}
	now := t.now()
	err := t.db.Revoke(ctx, Revocation{KitID: kitID, At: now, Actor: actor, Reason: reason},
		AuditRecord{At: now, Actor: actor, Event: "kitRevoked", KitID: kitID, Detail: reason})
	if err != nil {
		return fmt.Errorf("revoke kit: %w", err)
	}
	t.log.Warn("kitRevoked", "kit", kitID)
	return nil
}

// revocation is a kit's revocation row; ok is false when the kit is not revoked.
func (t *Townhall) revocation(ctx context.Context, kitID string) (at time.Time, allowed bool, ok bool, err error) {
	r, ok, err := t.db.Revocation(ctx, kitID)
	if err != nil || !ok {
		return time.Time{}, false, false, err
	}
	return r.At, !r.AllowedAt.IsZero(), true, nil
}

// AllowSealedBeforeRevocation is an administrator's explicit decision that a revoked kit may
// still deliver the packets it sealed before its revocation (a kit found again, say). The kit
// may then upload and commit only; each such case is audited as accepted after revocation.
// The seal time is the kit's own claim, signed with its key: decide so only when the key is
// known not to be in other hands.
func (t *Townhall) AllowSealedBeforeRevocation(ctx context.Context, kitID, actor string) error {
	return t.db.AllowSealedBeforeRevocation(ctx, kitID,
		AuditRecord{At: t.now(), Actor: actor, Event: "sealedBeforeRevocationAllowed", KitID: kitID})
}

// admitKit is called for every authenticated kit request: a revoked kit is refused (403,
// code revoked) and false returned; otherwise the contact is noted for the fleet view. A
// revoked kit an administrator allowed to deliver what it sealed before may upload and commit,
// nothing else (the commit checks the seal time).
func (t *Townhall) admitKit(w http.ResponseWriter, r *http.Request, kitID string) bool {
	_, allowed, revoked, err := t.revocation(r.Context(), kitID)
	if err != nil {
		t.log.Error("revocationLookup", "err", err)
		problem(w, http.StatusInternalServerError, receipt.CodeInternal, "database")
		return false
	}
	delivering := strings.HasPrefix(r.URL.Path, FilesPath[:len(FilesPath)-1]) ||
		(r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/packets/"))
	if revoked && !(allowed && delivering) {
		t.log.Warn("revokedKit", "kit", kitID)
		problem(w, http.StatusForbidden, receipt.CodeRevoked, "kit revoked")
		return false
	}
	if revoked {
		return true // no contact noted: the fleet shows when it was revoked
	}
	now := t.now()
	var notAfter time.Time
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		notAfter = r.TLS.VerifiedChains[0][0].NotAfter
	}
	err = t.db.NoteContact(r.Context(), KitContact{KitID: kitID, At: now, CertNotAfter: notAfter,
		Version: strings.TrimSpace(r.Header.Get(VersionHeader))})
	if err != nil {
		t.log.Warn("kitContact", "kit", kitID, "err", err)
	}
	return true
}

// checkRevokedSeal refuses a revoked kit's packet unless an administrator allowed delivery of
// what it sealed before the revocation and the packet was sealed before it.
func (t *Townhall) checkRevokedSeal(ctx context.Context, kitID string, m packet.Manifest) error {
	at, allowed, revoked, err := t.revocation(ctx, kitID)
	if err != nil {
		return err
	}
	if revoked && (!allowed || !m.SealedAt.Before(at)) {
		return &httpError{http.StatusForbidden, receipt.CodeRevoked, "kit revoked; packet not sealed before the revocation"}
	}
	return nil
}

// noteAfterRevocation audits a case accepted from a revoked kit: never silently.
func (t *Townhall) noteAfterRevocation(ctx context.Context, kitID, caseID string) {
	if _, _, revoked, err := t.revocation(ctx, kitID); err != nil || !revoked {
		return
	}
	if err := t.RecordAudit(ctx, AuditRecord{Actor: "townhall", Event: "caseAcceptedAfterRevocation", CaseID: caseID, KitID: kitID}); err != nil {
		t.log.Error("auditFailed", "event", "caseAcceptedAfterRevocation", "err", err)
	}
}

// AuditRecord is one entry of the town hall's own audit log: who did what to which case or
// kit. Detail never holds personal data.
type AuditRecord struct {
	Seq    int64
	At     time.Time
	Actor  string
	Event  string
	CaseID string
	KitID  string
	Detail string
}

// RecordAudit appends an entry to the town hall's audit log.
func (t *Townhall) RecordAudit(ctx context.Context, e AuditRecord) error {
	if e.At.IsZero() {
		e.At = t.now()
	}
	return t.db.AppendAudit(ctx, e)
}

// TownhallAudit returns the newest limit entries of the town hall's audit log, newest first.
func (t *Townhall) TownhallAudit(ctx context.Context, limit int) ([]AuditRecord, error) {
	return t.db.TownhallAudit(ctx, limit)
}

// VerifyTownhallAudit checks the hash chain of the town hall's audit log.
func (t *Townhall) VerifyTownhallAudit(ctx context.Context) error {
	entries, err := t.db.TownhallAuditChain(ctx)
	if err != nil {
		return fmt.Errorf("verify audit: %w", err)
	}
	var prev []byte
	for _, e := range entries {
		if !bytes.Equal(e.PrevHash, prev) || !bytes.Equal(e.Hash, auditHash(prev, e.AuditRecord)) {
			return fmt.Errorf("verify audit: entry %d breaks the chain", e.Seq)
		}
		prev = e.Hash
	}
	return nil
}

// chainAudit makes e the entry after (seq, prev): its number, and its time to the microsecond
// (what PostgreSQL keeps, so the hash verifies after a round trip through either store).
func chainAudit(seq int64, prev []byte, e AuditRecord) ChainedAuditRecord {
	e.Seq = seq + 1
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if prev == nil {
		prev = []byte{}
	}
	return ChainedAuditRecord{AuditRecord: e, PrevHash: prev, Hash: auditHash(prev, e)}
}

func auditHash(prev []byte, e AuditRecord) []byte {
	js, _ := json.Marshal([]any{e.Seq, formatTime(e.At), e.Actor, e.Event, e.CaseID, e.KitID, e.Detail})
	h := sha256.New()
	h.Write(prev)
	h.Write(js)
	return h.Sum(nil)
}

// Staff is a back-office account; Hash is the argon2id PHC string of its passphrase.
type Staff struct {
	Name      string
	Role      string
	Hash      string
	CreatedAt time.Time
}

// AddStaff creates an account (ErrExists if the name is taken) and audits it.
func (t *Townhall) AddStaff(ctx context.Context, s Staff, actor string) error {
	if s.Role != RoleCaseworker && s.Role != RoleAdmin {
		return fmt.Errorf("add staff: unknown role %q", s.Role)
	}
	now := t.now()
	s.CreatedAt = now
	return t.db.AddStaff(ctx, s, AuditRecord{At: now, Actor: actor, Event: "staffAdded", Detail: s.Name + "; " + s.Role})
}

// StaffAccount returns the account called name.
func (t *Townhall) StaffAccount(ctx context.Context, name string) (Staff, error) {
	return t.db.Staff(ctx, name)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// parseTime reads a stored time; "" (or a broken value) is the zero time, shown as unknown.
func parseTime(s string) time.Time {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Files of the back office's TLS certificate in the data directory.
const (
	staffCertFile = "staff.pem"
	staffKeyFile  = "staff.key"
)

// StaffTLS is the TLS configuration of the back office's listener: no client certificates
// (staff log in with a passphrase), and an ECDSA P-256 server certificate, since browsers
// take no Ed25519 in TLS. Without certFile and keyFile (the town's own certificate), a
// self-signed one for localhost and hostnames is made on first use and kept in the data
// directory, so staff browsers can trust it once.
func (t *Townhall) StaffTLS(certFile, keyFile string, hostnames ...string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		certFile, keyFile = t.path(staffCertFile), t.path(staffKeyFile)
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := t.makeStaffCert(certFile, keyFile, hostnames); err != nil {
				return nil, fmt.Errorf("staff certificate: %w", err)
			}
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("staff certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

func (t *Townhall) makeStaffCert(certFile, keyFile string, hostnames []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return err
	}
	now := t.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "koffer back office"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hostnames {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileSync(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return err
	}
	return writeFileSync(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
