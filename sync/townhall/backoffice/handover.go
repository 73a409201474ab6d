package backoffice

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"koffer/sync/packet"
	"koffer/sync/townhall"
)

// Hand-over format ("An Fachverfahren übergeben"): one zip per case holding handover.json
// (described by docs/handover.schema.json) and the packet's original files under files/.
const (
	HandoverFormat  = "koffer-handover"
	HandoverVersion = 1
	HandoverJSON    = "handover.json"
)

// Handover is handover.json.
type Handover struct {
	Format       string          `json:"format"`
	Version      int             `json:"version"`
	CaseID       string          `json:"case_id"`
	Number       string          `json:"number"`
	Service      string          `json:"service"`
	KitID        string          `json:"kit_id"`
	Caseworker   string          `json:"caseworker,omitempty"`
	Late         bool            `json:"late"`
	CreatedAt    time.Time       `json:"created_at"`
	SealedAt     time.Time       `json:"sealed_at"`
	ReceivedAt   time.Time       `json:"received_at"`
	HandedOverAt time.Time       `json:"handed_over_at"`
	HandedOverBy string          `json:"handed_over_by"`
	Form         json.RawMessage `json:"form"`
	Files        []HandoverFile  `json:"files"`
}

// HandoverFile is one original file of the case in the zip.
type HandoverFile struct {
	Path      string `json:"path"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Finger    string `json:"finger,omitempty"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// BuildHandover writes the hand-over zip of an opened case. Every file's hash is checked
// against the manifest the kit signed, so the registration software gets exactly what the
// citizen gave.
func BuildHandover(c townhall.CaseSummary, p *packet.Packet, actor string, now time.Time) ([]byte, *Handover, error) {
	h := &Handover{Format: HandoverFormat, Version: HandoverVersion, CaseID: c.CaseID, Number: c.Number, Service: c.Service,
		KitID: c.Kit, Caseworker: c.Caseworker, Late: c.Late, CreatedAt: p.Manifest.CreatedAt.UTC(), SealedAt: p.Manifest.SealedAt.UTC(),
		ReceivedAt: c.ReceivedAt.UTC(), HandedOverAt: now.UTC(), HandedOverBy: actor, Files: []HandoverFile{}}
	want := map[string]string{}
	for _, pi := range p.Manifest.Parts {
		want[pi.Name] = pi.SHA256
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, part := range p.Parts {
		sum := sha256.Sum256(part.Data)
		digest := hex.EncodeToString(sum[:])
		if digest != want[part.Name] {
			return nil, nil, fmt.Errorf("hand-over: part %s does not match the manifest", part.Name)
		}
		if part.Kind == packet.KindForm {
			if !json.Valid(part.Data) {
				return nil, nil, errors.New("hand-over: form.json is not JSON")
			}
			h.Form = json.RawMessage(part.Data)
		}
		f := HandoverFile{Path: "files/" + part.Name, Name: part.Name, Kind: part.Kind, Finger: part.Finger,
			MediaType: mediaType(part), Size: int64(len(part.Data)), SHA256: digest}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Path, Method: zip.Deflate, Modified: now.UTC()})
		if err != nil {
			return nil, nil, fmt.Errorf("hand-over: %w", err)
		}
		if _, err := w.Write(part.Data); err != nil {
			return nil, nil, fmt.Errorf("hand-over: %w", err)
		}
		h.Files = append(h.Files, f)
	}
	if h.Form == nil {
		return nil, nil, errors.New("hand-over: the packet has no form.json")
	}
	js, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("hand-over: %w", err)
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: HandoverJSON, Method: zip.Deflate, Modified: now.UTC()})
	if err != nil {
		return nil, nil, fmt.Errorf("hand-over: %w", err)
	}
	if _, err := w.Write(js); err != nil {
		return nil, nil, fmt.Errorf("hand-over: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, nil, fmt.Errorf("hand-over: %w", err)
	}
	return buf.Bytes(), h, nil
}

func mediaType(p packet.Part) string {
	switch p.Kind {
	case packet.KindForm:
		return "application/json"
	case packet.KindFingerprint:
		return "application/octet-stream" // ISO/IEC 19794-4 finger image record
	}
	ct := http.DetectContentType(p.Data)
	if i := bytes.IndexByte([]byte(ct), ';'); i > 0 {
		ct = ct[:i]
	}
	return ct
}

// HandoverName is the zip's file name in the drop directory.
func HandoverName(c townhall.CaseSummary) string { return c.Number + "_" + c.CaseID + ".zip" }

// deliverHandover drops the zip into DropDir (durably: temporary file, fsync, rename, fsync of
// the directory) and POSTs it to HandoverURL. The case id is the idempotency key, so a retry
// after a lost answer never creates a second case in the registration software.
func (s *Server) deliverHandover(ctx context.Context, c townhall.CaseSummary, zipped []byte) (string, error) {
	var targets []string
	if s.opts.DropDir != "" {
		path := filepath.Join(s.opts.DropDir, HandoverName(c))
		if err := renameio.WriteFile(path, zipped, 0o600); err != nil {
			return "", fmt.Errorf("drop hand-over: %w", err)
		}
		if err := syncDir(s.opts.DropDir); err != nil {
			return "", fmt.Errorf("drop hand-over: %w", err)
		}
		targets = append(targets, "drop")
	}
	if s.opts.HandoverURL != "" {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.HandoverURL, bytes.NewReader(zipped))
		if err != nil {
			return "", fmt.Errorf("post hand-over: %w", err)
		}
		req.Header.Set("Content-Type", "application/zip")
		req.Header.Set("Idempotency-Key", c.CaseID)
		resp, err := s.opts.HTTPClient.Do(req)
		if err != nil {
			return "", fmt.Errorf("post hand-over: %w", err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return "", fmt.Errorf("post hand-over: status %d", resp.StatusCode)
		}
		targets = append(targets, "post")
	}
	if len(targets) == 0 {
		return "", errors.New("hand-over: no drop directory and no URL configured")
	}
	return strings.Join(targets, "+"), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RetentionRule says when the town hall deletes a kind of part of a service's cases.
type RetentionRule struct {
	ID      string `json:"id"`
	Law     string `json:"law"`
	Service string `json:"service"`
	Kind    string `json:"kind"`
	Delete  string `json:"delete"` // "after_handover"
}

//go:embed retention.json
var retentionJSON []byte

func loadRetention() ([]RetentionRule, error) {
	var rules []RetentionRule
	if err := json.Unmarshal(retentionJSON, &rules); err != nil {
		return nil, fmt.Errorf("retention rules: %w", err)
	}
	for _, r := range rules {
		if r.Kind != packet.KindFingerprint || r.Delete != "after_handover" {
			return nil, fmt.Errorf("retention rule %s: only fingerprints after hand-over are supported", r.ID)
		}
	}
	return rules, nil
}

func (s *Server) handOver(w http.ResponseWriter, r *http.Request, ses *session) {
	id := r.PathValue("id")
	c, p, ok := s.loadCase(w, r, ses, id)
	if !ok {
		return
	}
	zipped, _, err := BuildHandover(c, p, ses.name, s.now())
	if err != nil {
		s.log.Error("handoverBuild", "case", id, "err", err)
		s.fail(w, r, ses, http.StatusUnprocessableEntity, "Der Fall kann nicht übergeben werden: seine Dateien passen nicht zum Paket. Bitte melden Sie ihn der Administration.")
		return
	}
	target, err := s.deliverHandover(r.Context(), c, zipped)
	if err != nil {
		s.log.Error("handoverDeliver", "case", id, "err", err)
		s.audit(r, ses.name, "caseHandoverFailed", id, c.Kit, "")
		s.fail(w, r, ses, http.StatusBadGateway, "Die Übergabe an das Fachverfahren ist fehlgeschlagen. Der Fall bleibt im Posteingang; bitte versuchen Sie es später noch einmal.")
		return
	}
	if err := s.th.MarkHandedOver(r.Context(), id, ses.name, target); err != nil {
		s.log.Error("handoverMark", "case", id, "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Die Übergabe ist erfolgt, konnte aber nicht vermerkt werden. Bitte melden Sie das der Administration.")
		return
	}
	for _, rule := range s.retention {
		if rule.Service != c.Service {
			continue
		}
		if _, err := s.th.DeleteFingerprints(r.Context(), id, ses.name, rule.ID+" ("+rule.Law+")"); err != nil {
			s.log.Error("fingerprintDelete", "case", id, "err", err)
			s.fail(w, r, ses, http.StatusInternalServerError, "Die Übergabe ist erfolgt, die Fingerabdrücke konnten aber nicht gelöscht werden. Bitte übergeben Sie den Fall noch einmal.")
			return
		}
	}
	s.log.Info("caseHandedOver", "case", id)
	http.Redirect(w, r, "/fall/"+id+"?ok=uebergeben", http.StatusSeeOther)
}
