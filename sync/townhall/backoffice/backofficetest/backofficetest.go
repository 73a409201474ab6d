// Package backofficetest helps tests of the back office: it checks a hand-over zip against the
// JSON Schema in docs/ and keeps a fake town hall for tests without one.
package backofficetest

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"koffer/sync/packet"
	"koffer/sync/townhall"
)

// SchemaPath is docs/handover.schema.json of this module.
func SchemaPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "docs", "handover.schema.json")
}

// CheckHandover validates a hand-over zip: handover.json against the schema, and every file
// it lists present in the zip with the size and sha256 it states. It returns the decoded
// handover.json and the files by path.
func CheckHandover(t testing.TB, zipped []byte) (map[string]any, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		_ = rc.Close()
		files[f.Name] = b
	}
	js, ok := files["handover.json"]
	require.True(t, ok, "handover.json in the zip")

	sf, err := os.Open(SchemaPath())
	require.NoError(t, err)
	defer sf.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(sf)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("handover.schema.json", schemaDoc))
	sch, err := c.Compile("handover.schema.json")
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst), "handover.json follows docs/handover.schema.json")

	var h struct {
		Files []struct {
			Path   string `json:"path"`
			Size   int    `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
	}
	require.NoError(t, json.Unmarshal(js, &h))
	for _, f := range h.Files {
		b, ok := files[f.Path]
		require.True(t, ok, "%s in the zip", f.Path)
		sum := sha256.Sum256(b)
		require.Equal(t, f.SHA256, hex.EncodeToString(sum[:]), f.Path)
		require.Equal(t, f.Size, len(b), f.Path)
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal(js, &m))
	return m, files
}

// Fake is an in-memory town hall: staff, cases with their packets, and the audit log.
type Fake struct {
	mu       sync.Mutex
	Staff    map[string]townhall.Staff
	Summary  []townhall.CaseSummary
	Packets  map[string]*packet.Packet
	Kits     []townhall.KitStatus
	Log      []townhall.AuditRecord
	Visits   map[string][][]byte
	Revoked  map[string]string
	HandedOf map[string]string
}

// NewFake returns an empty fake.
func NewFake() *Fake {
	return &Fake{Staff: map[string]townhall.Staff{}, Packets: map[string]*packet.Packet{}, Visits: map[string][][]byte{},
		Revoked: map[string]string{}, HandedOf: map[string]string{}}
}

func (f *Fake) Cases(context.Context, townhall.CaseFilter) ([]townhall.CaseSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]townhall.CaseSummary(nil), f.Summary...), nil
}

func (f *Fake) CaseSummary(_ context.Context, id string) (townhall.CaseSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.Summary {
		if c.CaseID == id {
			return c, nil
		}
	}
	return townhall.CaseSummary{}, townhall.ErrNotFound
}

func (f *Fake) OpenCase(_ context.Context, id string) (*packet.Packet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.Packets[id]; ok {
		return p, nil
	}
	return nil, townhall.ErrNotFound
}

func (f *Fake) MarkHandedOver(_ context.Context, id, actor, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.HandedOf[id] = actor
	return nil
}

func (f *Fake) DeleteFingerprints(_ context.Context, id, _, _ string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.Packets[id]
	if p == nil {
		return 0, townhall.ErrNotFound
	}
	n := 0
	kept := p.Parts[:0]
	for _, part := range p.Parts {
		if part.Kind == packet.KindFingerprint {
			n++
			continue
		}
		kept = append(kept, part)
	}
	p.Parts = kept
	return n, nil
}

func (f *Fake) AddVisits(_ context.Context, kit string, pack []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Visits[kit] = append(f.Visits[kit], pack)
	return "v", nil
}

func (f *Fake) Fleet(context.Context) ([]townhall.KitStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]townhall.KitStatus(nil), f.Kits...), nil
}

func (f *Fake) RevokeKit(_ context.Context, kit, actor, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Revoked[kit] = actor
	return nil
}

func (f *Fake) AllowSealedBeforeRevocation(_ context.Context, kit, actor string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Revoked[kit] += "; allowed by " + actor
	return nil
}

func (f *Fake) TownhallAudit(context.Context, int) ([]townhall.AuditRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]townhall.AuditRecord, 0, len(f.Log))
	for i := len(f.Log) - 1; i >= 0; i-- {
		out = append(out, f.Log[i])
	}
	return out, nil
}

func (f *Fake) RecordAudit(_ context.Context, e townhall.AuditRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e.Seq = int64(len(f.Log) + 1)
	f.Log = append(f.Log, e)
	return nil
}

func (f *Fake) StaffAccount(_ context.Context, name string) (townhall.Staff, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.Staff[name]; ok {
		return s, nil
	}
	return townhall.Staff{}, townhall.ErrNotFound
}

// Events lists the audit events in order.
func (f *Fake) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.Log {
		out = append(out, e.Event)
	}
	return out
}
