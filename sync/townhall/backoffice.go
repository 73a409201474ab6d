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
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	rows, err := t.db.db.QueryContext(ctx, `SELECT c.case_id, c.number, c.service, c.kit_id, c.received_at, c.size,
			COALESCE(f.late, -1), COALESCE(f.applied_at, ''),
			COALESCE((SELECT a.actor FROM audit a WHERE a.kit_id = c.kit_id AND a.case_id = c.case_id ORDER BY a.seq LIMIT 1), ''),
			COALESCE(h.at, ''), COALESCE(h.actor, ''), COALESCE(d.at, '')
		FROM cases c
		LEFT JOIN case_facts f ON f.case_id = c.case_id
		LEFT JOIN handovers h ON h.case_id = c.case_id
		LEFT JOIN fingerprint_deletions d ON d.case_id = c.case_id
		WHERE (? = '' OR c.kit_id = ?) AND (? = '' OR c.service = ?)
		ORDER BY c.seq`, f.Kit, f.Kit, f.Service, f.Service)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	var out []CaseSummary
	var unknown []int
	for rows.Next() {
		var c CaseSummary
		var received, applied, handed, deleted string
		var late int
		if err := rows.Scan(&c.CaseID, &c.Number, &c.Service, &c.Kit, &received, &c.Size, &late, &applied,
			&c.Caseworker, &handed, &c.HandedOverBy, &deleted); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("cases: %w", err)
		}
		c.ReceivedAt = parseTime(received)
		c.AppliedAt = parseTime(applied)
		c.HandedOverAt = parseTime(handed)
		c.FingerprintsDeletedAt = parseTime(deleted)
		c.Late = late == 1
		if f.Caseworker != "" && f.Caseworker != c.Caseworker {
			continue
		}
		if late < 0 {
			unknown = append(unknown, len(out))
		}
		out = append(out, c)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	for _, i := range unknown {
		if err := t.learnFacts(ctx, &out[i]); err != nil {
			t.log.Warn("caseFacts", "case", out[i].CaseID, "err", err)
		}
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
	late := 0
	if form.Late {
		late = 1
	}
	_, err = t.db.db.ExecContext(ctx, `INSERT INTO case_facts (case_id, late, applied_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		c.CaseID, late, formatTime(form.AppliedAt))
	return err
}

// MarkHandedOver records that a case went to the registration software (target names where).
func (t *Townhall) MarkHandedOver(ctx context.Context, caseID, actor, target string) error {
	if _, err := t.db.caseByID(ctx, caseID); errors.Is(err, errNotFound) {
		return fmt.Errorf("case %s: %w", caseID, ErrNotFound)
	} else if err != nil {
		return err
	}
	return t.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO handovers (case_id, at, actor, target) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			caseID, formatTime(t.now()), actor, target)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // handed over before: the first hand-over stays the record
		}
		return appendAudit(ctx, tx, AuditRecord{At: t.now(), Actor: actor, Event: "caseHandedOver", CaseID: caseID, Detail: target})
	})
}

// redacted is a case's content after its fingerprints were deleted: the manifest the kit signed
// (with every part's hash, so what is kept is still checked) and the kept parts, sealed to the
// town hall's own age identity.
type redacted struct {
	Manifest packet.Manifest `json:"manifest"`
	Parts    []packet.Part   `json:"parts"`
}

func (t *Townhall) redactedPath(caseID string) string {
	return filepath.Join(t.dir, packetsDir, caseID+".redacted")
}

// DeleteFingerprints deletes a case's fingerprint records at the town hall: the packet is
// replaced by a copy without them (written durably before the packet is removed), and the
// deletion is audited under rule. It returns how many records were deleted; deleting again
// deletes nothing and returns 0.
func (t *Townhall) DeleteFingerprints(ctx context.Context, caseID, actor, rule string) (int, error) {
	c, err := t.db.caseByID(ctx, caseID)
	if errors.Is(err, errNotFound) {
		return 0, fmt.Errorf("case %s: %w", caseID, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	var done int
	if err := t.db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM fingerprint_deletions WHERE case_id = ?`, caseID).Scan(&done); err != nil {
		return 0, fmt.Errorf("delete fingerprints: %w", err)
	}
	if done > 0 {
		return 0, nil
	}
	n := 0
	if _, err := os.Stat(t.packetPath(caseID)); err == nil {
		k, err := t.db.kit(ctx, c.KitID)
		if err != nil {
			return 0, fmt.Errorf("delete fingerprints: kit: %w", err)
		}
		data, err := os.ReadFile(t.packetPath(caseID))
		if err != nil {
			return 0, fmt.Errorf("delete fingerprints: %w", err)
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
		if err := writeFileSync(t.redactedPath(caseID), sealed, 0o600); err != nil {
			return 0, fmt.Errorf("delete fingerprints: %w", err)
		}
		if err := os.Remove(t.packetPath(caseID)); err != nil {
			return 0, fmt.Errorf("delete fingerprints: %w", err)
		}
		if err := syncDir(filepath.Dir(t.packetPath(caseID))); err != nil {
			return 0, fmt.Errorf("delete fingerprints: %w", err)
		}
	}
	err = t.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO fingerprint_deletions (case_id, at, actor, rule, parts) VALUES (?, ?, ?, ?, ?)`,
			caseID, formatTime(t.now()), actor, rule, n); err != nil {
			return err
		}
		return appendAudit(ctx, tx, AuditRecord{At: t.now(), Actor: actor, Event: "fingerprintsDeleted", CaseID: caseID,
			Detail: fmt.Sprintf("%s; %d", rule, n)})
	})
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
func (t *Townhall) openRedacted(caseID string) (p *packet.Packet, ok bool, err error) {
	data, err := os.ReadFile(t.redactedPath(caseID))
	if errors.Is(err, os.ErrNotExist) {
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
	// AuditBrokenSeq is the first entry of the kit's audit log whose hash does not hold; 0:
	// the chain holds (auditcheck.go).
	AuditBrokenSeq int64
}

// Revoked reports whether the kit is revoked.
func (k KitStatus) Revoked() bool { return !k.RevokedAt.IsZero() }

// Fleet lists every enrolled kit.
func (t *Townhall) Fleet(ctx context.Context) ([]KitStatus, error) {
	rows, err := t.db.db.QueryContext(ctx, `SELECT k.id, k.url, k.enrolled_at,
			COALESCE(c.last_contact, ''), COALESCE(c.cert_not_after, ''), COALESCE(c.version, ''),
			(SELECT COUNT(*) FROM cases x WHERE x.kit_id = k.id),
			COALESCE((SELECT MAX(x.received_at) FROM cases x WHERE x.kit_id = k.id), ''),
			COALESCE(r.at, ''), COALESCE(r.actor, ''), COALESCE(r.reason, ''), COALESCE(r.allowed_by, '')
		FROM kits k LEFT JOIN kit_contact c ON c.kit_id = k.id LEFT JOIN revocations r ON r.kit_id = k.id
		ORDER BY k.id`)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	defer rows.Close()
	var out []KitStatus
	for rows.Next() {
		var k KitStatus
		var enrolled, contact, notAfter, lastCase, revoked string
		if err := rows.Scan(&k.ID, &k.URL, &enrolled, &contact, &notAfter, &k.Version, &k.Received, &lastCase,
			&revoked, &k.RevokedBy, &k.RevokeReason, &k.AllowedBy); err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
		k.EnrolledAt, k.LastContact, k.CertNotAfter = parseTime(enrolled), parseTime(contact), parseTime(notAfter)
		k.LastCase, k.RevokedAt = parseTime(lastCase), parseTime(revoked)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return out, t.flagAuditBreaks(ctx, out) // auditcheck.go
}

// RevokeKit shuts a kit out: from this moment every request it makes is refused with 403 and
// code "revoked" (the check reads the database, so every replica refuses it). Revoking again
// changes nothing. A revoked kit is re-enrolled under a new name with a new bundle.
func (t *Townhall) RevokeKit(ctx context.Context, kitID, actor, reason string) error {
	if _, err := t.db.kit(ctx, kitID); errors.Is(err, errNotFound) {
		return fmt.Errorf("kit %s: %w", kitID, ErrNotFound)
	} else if err != nil {
		return err
	}
	err := t.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO revocations (kit_id, at, actor, reason) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			kitID, formatTime(t.now()), actor, reason)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return appendAudit(ctx, tx, AuditRecord{At: t.now(), Actor: actor, Event: "kitRevoked", KitID: kitID, Detail: reason})
	})
	if err != nil {
		return fmt.Errorf("revoke kit: %w", err)
	}
	t.log.Warn("kitRevoked", "kit", kitID)
	return nil
}

// revocation is a kit's revocation row; ok is false when the kit is not revoked.
func (t *Townhall) revocation(ctx context.Context, kitID string) (at time.Time, allowed bool, ok bool, err error) {
	var s, allowedAt string
	err = t.db.db.QueryRowContext(ctx, `SELECT at, allowed_at FROM revocations WHERE kit_id = ?`, kitID).Scan(&s, &allowedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, false, nil
	}
	if err != nil {
		return time.Time{}, false, false, fmt.Errorf("revocation: %w", err)
	}
	return parseTime(s), allowedAt != "", true, nil
}

// AllowSealedBeforeRevocation is an administrator's explicit decision that a revoked kit may
// still deliver the packets it sealed before its revocation (a kit found again, say). The kit
// may then upload and commit only; each such case is audited as accepted after revocation.
// The seal time is the kit's own claim, signed with its key: decide so only when the key is
// known not to be in other hands.
func (t *Townhall) AllowSealedBeforeRevocation(ctx context.Context, kitID, actor string) error {
	return t.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE revocations SET allowed_at = ?, allowed_by = ? WHERE kit_id = ? AND allowed_at = ''`,
			formatTime(t.now()), actor, kitID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("kit %s: not revoked or allowed already: %w", kitID, ErrNotFound)
		}
		return appendAudit(ctx, tx, AuditRecord{At: t.now(), Actor: actor, Event: "sealedBeforeRevocationAllowed", KitID: kitID})
	})
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
	// At most one write a minute per kit: tus sends many requests per case.
	_, err = t.db.db.ExecContext(r.Context(), `INSERT INTO kit_contact (kit_id, last_contact, cert_not_after, version) VALUES (?, ?, ?, ?)
		ON CONFLICT (kit_id) DO UPDATE SET last_contact = excluded.last_contact, cert_not_after = excluded.cert_not_after,
			version = excluded.version
		WHERE kit_contact.last_contact < ? OR kit_contact.version <> excluded.version`,
		kitID, formatTime(now), formatTime(notAfter), strings.TrimSpace(r.Header.Get(VersionHeader)), formatTime(now.Add(-time.Minute)))
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
	return t.inTx(ctx, func(tx *sql.Tx) error { return appendAudit(ctx, tx, e) })
}

// TownhallAudit returns the newest limit entries of the town hall's audit log, newest first.
func (t *Townhall) TownhallAudit(ctx context.Context, limit int) ([]AuditRecord, error) {
	rows, err := t.db.db.QueryContext(ctx, `SELECT seq, at, actor, event, case_id, kit_id, detail FROM townhall_audit
		ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var e AuditRecord
		var at string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Event, &e.CaseID, &e.KitID, &e.Detail); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		e.At = parseTime(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// VerifyTownhallAudit checks the hash chain of the town hall's audit log.
func (t *Townhall) VerifyTownhallAudit(ctx context.Context) error {
	rows, err := t.db.db.QueryContext(ctx, `SELECT seq, at, actor, event, case_id, kit_id, detail, prev_hash, hash FROM townhall_audit ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("verify audit: %w", err)
	}
	defer rows.Close()
	var prev []byte
	for rows.Next() {
		var e AuditRecord
		var at string
		var p, h []byte
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Event, &e.CaseID, &e.KitID, &e.Detail, &p, &h); err != nil {
			return fmt.Errorf("verify audit: %w", err)
		}
		e.At = parseTime(at)
		if !bytes.Equal(p, prev) || !bytes.Equal(h, auditHash(prev, e, at)) {
			return fmt.Errorf("verify audit: entry %d breaks the chain", e.Seq)
		}
		prev = h
	}
	return rows.Err()
}

func auditHash(prev []byte, e AuditRecord, at string) []byte {
	js, _ := json.Marshal([]any{e.Seq, at, e.Actor, e.Event, e.CaseID, e.KitID, e.Detail})
	h := sha256.New()
	h.Write(prev)
	h.Write(js)
	return h.Sum(nil)
}

func appendAudit(ctx context.Context, tx *sql.Tx, e AuditRecord) error {
	var seq int64
	var prev []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM townhall_audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit: %w", err)
	}
	e.Seq = seq + 1
	at := formatTime(e.At)
	if prev == nil {
		prev = []byte{}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO townhall_audit (seq, at, actor, event, case_id, kit_id, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, at, e.Actor, e.Event, e.CaseID, e.KitID, e.Detail, prev, auditHash(prev, e, at))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
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
	return t.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO staff (name, role, hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			s.Name, s.Role, s.Hash, formatTime(t.now()))
		if err != nil {
			return fmt.Errorf("add staff: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("staff %s: %w", s.Name, ErrExists)
		}
		return appendAudit(ctx, tx, AuditRecord{At: t.now(), Actor: actor, Event: "staffAdded", Detail: s.Name + "; " + s.Role})
	})
}

// StaffAccount returns the account called name.
func (t *Townhall) StaffAccount(ctx context.Context, name string) (Staff, error) {
	s := Staff{Name: name}
	var at string
	err := t.db.db.QueryRowContext(ctx, `SELECT role, hash, created_at FROM staff WHERE name = ?`, name).Scan(&s.Role, &s.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Staff{}, fmt.Errorf("staff %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Staff{}, fmt.Errorf("staff: %w", err)
	}
	s.CreatedAt = parseTime(at)
	return s, nil
}

func (t *Townhall) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := t.db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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
