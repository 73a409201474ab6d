package townhall_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
	"koffer/sync/packet"
	"koffer/sync/receipt"
	"koffer/sync/townhall"
	"koffer/sync/tus"
	"koffer/sync/visit"
)

type fixture struct {
	th   *townhall.Townhall
	url  string
	dir  string
	kit  *enroll.Bundle
	http *http.Client
	// objects is the S3 server's directory on the provider backends ("" when embedded).
	objects string
}

func start(t *testing.T) *fixture { return startWith(t, townhall.Options{}) }

func startWith(t *testing.T, opts townhall.Options) *fixture {
	t.Helper()
	dir := t.TempDir()
	th, err := townhall.Open(t.Context(), dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = th.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "https://" + ln.Addr().String()
	cfg, err := th.ServerTLS()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- th.Serve(t.Context(), ln, cfg) }() // t.Context ends before cleanups
	t.Cleanup(func() { <-done })
	kit, err := th.AddKit(t.Context(), "kit-1", url)
	require.NoError(t, err)
	return &fixture{th: th, url: url, dir: dir, kit: kit, http: client(t, kit)}
}

func client(t *testing.T, b *enroll.Bundle) *http.Client {
	t.Helper()
	cfg, err := b.ClientTLS()
	require.NoError(t, err)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

func seal(t *testing.T, b *enroll.Bundle, key ed25519.PrivateKey, caseID string, parts []packet.Part) []byte {
	t.Helper()
	rcp, err := b.AgeRecipient()
	require.NoError(t, err)
	if key == nil {
		key, err = b.SigningKey()
		require.NoError(t, err)
	}
	var buf bytes.Buffer
	s := &packet.Sealer{KitID: b.KitID, Key: key, Recipient: rcp}
	_, err = s.Seal(&buf, packet.Manifest{CaseID: caseID, Service: "meldebescheinigung", CreatedAt: time.Now()}, parts)
	require.NoError(t, err)
	return buf.Bytes()
}

func upload(t *testing.T, f *fixture, hc *http.Client, data []byte, n int) string {
	t.Helper()
	c := &tus.Client{HTTP: hc}
	u, err := c.Create(t.Context(), f.url+townhall.FilesPath, int64(len(data)), map[string]string{"case_id": "x"})
	require.NoError(t, err)
	if n > 0 {
		_, err = c.Patch(t.Context(), u, bytes.NewReader(data[:n]), 0, int64(n), nil)
		require.NoError(t, err)
	}
	return u
}

func commit(t *testing.T, f *fixture, hc *http.Client, caseID, uploadURL string, sum string) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(receipt.CommitRequest{UploadID: uploadURL[strings.LastIndex(uploadURL, "/")+1:], SHA256: sum})
	require.NoError(t, err)
	resp, err := hc.Post(f.url+"/v1/packets/"+caseID, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, raw
}

func hash(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestCommitAndOpen(t *testing.T) { onBackends(t, testCommitAndOpen) }

func testCommitAndOpen(t *testing.T, f *fixture) {
	caseID := uuid.Must(uuid.NewV7()).String()
	scan := make([]byte, 300<<10)
	_, _ = rand.Read(scan)
	parts := []packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"a":1}`)}, {Name: "scan.pdf", Kind: packet.KindScan, Data: scan}}
	data := seal(t, f.kit, nil, caseID, parts)

	u := upload(t, f, f.http, data, len(data))
	status, raw := commit(t, f, f.http, caseID, u, hash(data))
	require.Equal(t, http.StatusOK, status, string(raw))
	ca, err := receipt.ParseCA(f.kit.CAPEM)
	require.NoError(t, err)
	body, err := receipt.Verify(raw, ca, time.Now())
	require.NoError(t, err)
	assert.Equal(t, caseID, body.CaseID)
	assert.Equal(t, "kit-1", body.KitID)
	assert.Equal(t, hash(data), body.SHA256)
	assert.Regexp(t, `^TH-\d{4}-000001$`, body.Number)

	// Committing again (a lost answer) returns the very same receipt.
	u2 := upload(t, f, f.http, data, len(data))
	status, again := commit(t, f, f.http, caseID, u2, hash(data))
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, raw, again)

	inbox, err := f.th.Inbox(t.Context())
	require.NoError(t, err)
	require.Len(t, inbox, 1)
	assert.Equal(t, caseID, inbox[0].CaseID)
	assert.Equal(t, "meldebescheinigung", inbox[0].Service)
	assert.Equal(t, body.Number, inbox[0].Receipt)

	p, err := f.th.OpenCase(t.Context(), caseID)
	require.NoError(t, err)
	require.Len(t, p.Parts, 2)
	assert.True(t, bytes.Equal(scan, p.Parts[1].Data))
}

func TestCommitRefusals(t *testing.T) { onBackends(t, testCommitRefusals) }

func testCommitRefusals(t *testing.T, f *fixture) {
	// A kit with a valid certificate from this CA that was never recorded (removed kit).
	ghost, err := f.th.CA().Issue("kit-ghost", f.url, f.th.Recipient(), time.Now())
	require.NoError(t, err)
	other, err := f.th.AddKit(t.Context(), "kit-2", f.url)
	require.NoError(t, err)
	_, strangerKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	parts := []packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{}`)}}

	tests := []struct {
		name   string
		run    func(t *testing.T) (int, []byte)
		status int
		code   string
	}{
		{name: "unknown kit", status: http.StatusForbidden, code: receipt.CodeUnknownKit, run: func(t *testing.T) (int, []byte) {
			return commit(t, f, client(t, ghost), uuid.NewString(), "/files/x", "")
		}},
		{name: "signed by another key", status: http.StatusUnprocessableEntity, code: receipt.CodeBadSignature, run: func(t *testing.T) (int, []byte) {
			id := uuid.NewString()
			data := seal(t, f.kit, strangerKey, id, parts)
			return commit(t, f, f.http, id, upload(t, f, f.http, data, len(data)), hash(data))
		}},
		{name: "upload incomplete", status: http.StatusConflict, code: receipt.CodeUploadIncomplete, run: func(t *testing.T) (int, []byte) {
			id := uuid.NewString()
			data := seal(t, f.kit, nil, id, parts)
			return commit(t, f, f.http, id, upload(t, f, f.http, data, 10), hash(data))
		}},
		{name: "bytes differ from the kit's hash", status: http.StatusConflict, code: receipt.CodeUploadCorrupt, run: func(t *testing.T) (int, []byte) {
			id := uuid.NewString()
			data := seal(t, f.kit, nil, id, parts)
			return commit(t, f, f.http, id, upload(t, f, f.http, data, len(data)), hash([]byte("other")))
		}},
		{name: "upload missing", status: http.StatusConflict, code: receipt.CodeUploadMissing, run: func(t *testing.T) (int, []byte) {
			return commit(t, f, f.http, uuid.NewString(), "/files/nope", "")
		}},
		{name: "packet for another case", status: http.StatusUnprocessableEntity, code: receipt.CodeBadPacket, run: func(t *testing.T) (int, []byte) {
			data := seal(t, f.kit, nil, uuid.NewString(), parts)
			return commit(t, f, f.http, uuid.NewString(), upload(t, f, f.http, data, len(data)), hash(data))
		}},
		{name: "another kit's upload", status: http.StatusForbidden, code: receipt.CodeKitMismatch, run: func(t *testing.T) (int, []byte) {
			id := uuid.NewString()
			data := seal(t, f.kit, nil, id, parts)
			return commit(t, f, client(t, other), id, upload(t, f, f.http, data, len(data)), hash(data))
		}},
		{name: "case id not a UUID", status: http.StatusBadRequest, code: receipt.CodeBadRequest, run: func(t *testing.T) (int, []byte) {
			return commit(t, f, f.http, "not-a-uuid", "/files/x", "")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, raw := tt.run(t)
			assert.Equal(t, tt.status, status, string(raw))
			var p receipt.Problem
			require.NoError(t, json.Unmarshal(raw, &p))
			assert.Equal(t, tt.code, p.Code)
		})
	}
	inbox, err := f.th.Inbox(t.Context())
	require.NoError(t, err)
	assert.Empty(t, inbox, "no refused packet was stored")
}

func TestForeignCAIsRefusedAtTLS(t *testing.T) {
	f := start(t)
	foreign, _, err := enroll.NewTraining("kit-1")
	require.NoError(t, err)
	foreign.CAPEM = f.kit.CAPEM // trusts the server, but its own cert is from another CA
	_, err = client(t, foreign).Get(f.url + "/v1/visits")
	require.Error(t, err)
}

func TestReopenKeepsKeys(t *testing.T) {
	dir := t.TempDir()
	th, err := townhall.Open(t.Context(), dir, townhall.Options{})
	require.NoError(t, err)
	ca, rcp := th.CA().PEM(), th.Recipient()
	require.NoError(t, th.Close())
	th, err = townhall.Open(t.Context(), dir, townhall.Options{})
	require.NoError(t, err)
	defer th.Close()
	assert.Equal(t, ca, th.CA().PEM())
	assert.Equal(t, rcp, th.Recipient())
}

// TestVisits: a kit registers its visit-pack key once; packs are signed for it and sealed to
// that key, served until the kit acknowledges them or their day is over, and only to it.
func TestVisits(t *testing.T) { onBackends(t, testVisits) }

func testVisits(t *testing.T, f *fixture) {
	pack, err := os.ReadFile("../../testdata/visits/2026-11-24.json")
	require.NoError(t, err)
	today := time.Now().Format(time.DateOnly)
	pack = bytes.Replace(pack, []byte(`"date": "2026-11-24"`), []byte(`"date": "`+today+`"`), 1)
	_, err = f.th.AddVisits(t.Context(), "kit-1", pack)
	assert.ErrorIs(t, err, townhall.ErrNoVisitRecipient, "nothing is sealed before the kit has a visit key")

	ident, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	put := func(hc *http.Client, rcpt string) int {
		body, err := json.Marshal(townhall.VisitRecipient{Recipient: rcpt})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPut, f.url+"/v1/visits/recipient", bytes.NewReader(body))
		require.NoError(t, err)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusBadRequest, put(f.http, "ssh-ed25519 AAAA"))
	require.Equal(t, http.StatusOK, put(f.http, ident.Recipient().String()))
	require.Equal(t, http.StatusOK, put(f.http, ident.Recipient().String()), "the same key again is fine")
	thief, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	assert.Equal(t, http.StatusConflict, put(f.http, thief.Recipient().String()), "the first key stays")

	id, err := f.th.AddVisits(t.Context(), "kit-1", pack)
	require.NoError(t, err)
	_, err = f.th.AddVisits(t.Context(), "kit-nope", pack)
	assert.ErrorIs(t, err, townhall.ErrNotFound)
	_, err = f.th.AddVisits(t.Context(), "kit-1", []byte(`{"version":1}`))
	assert.Error(t, err, "an invalid pack is not sealed")

	get := func(hc *http.Client) []struct {
		ID        string `json:"id"`
		VisitDate string `json:"visit_date"`
		Pack      []byte `json:"pack"`
	} {
		resp, err := hc.Get(f.url + "/v1/visits")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var got []struct {
			ID        string `json:"id"`
			VisitDate string `json:"visit_date"`
			Pack      []byte `json:"pack"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		return got
	}
	del := func(hc *http.Client, id string) int {
		req, err := http.NewRequest(http.MethodDelete, f.url+"/v1/visits/"+id, nil)
		require.NoError(t, err)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	got := get(f.http)
	require.Len(t, got, 1)
	assert.Equal(t, id, got[0].ID)
	assert.Equal(t, today, got[0].VisitDate)
	assert.NotContains(t, string(got[0].Pack), "Fiktiva")
	ca, err := receipt.ParseCA(f.kit.CAPEM)
	require.NoError(t, err)
	p, raw, err := visit.Open(got[0].Pack, "kit-1", ident, ca, time.Now())
	require.NoError(t, err)
	assert.Equal(t, pack, raw)
	assert.Len(t, p.Appointments, 2)
	key, err := f.kit.SigningKey()
	require.NoError(t, err)
	kitIdent, err := agessh.NewEd25519Identity(key)
	require.NoError(t, err)
	_, err = age.Decrypt(bytes.NewReader(got[0].Pack), kitIdent)
	assert.Error(t, err, "the key in kit.json does not open visit packs")

	other, err := f.th.AddKit(t.Context(), "kit-2", f.url)
	require.NoError(t, err)
	assert.Empty(t, get(client(t, other)), "another kit sees none of kit-1's packs")
	assert.Equal(t, http.StatusNotFound, del(client(t, other), id), "nor deletes them")
	assert.Len(t, get(f.http), 1)

	assert.Equal(t, http.StatusNoContent, del(f.http, id), "the kit acknowledges the stored pack")
	assert.Empty(t, get(f.http), "an acknowledged pack is gone")
	assert.Equal(t, http.StatusNotFound, del(f.http, id))
}

// TestVisitsExpire: a pack nobody fetched is deleted once its visit day is over.
func TestVisitsExpire(t *testing.T) { onBackendOptions(t, testVisitsExpire) }

func testVisitsExpire(t *testing.T, o townhall.Options) {
	day := time.Date(2026, 11, 24, 23, 0, 0, 0, time.Local)
	clock := &day
	o.Now = func() time.Time { return *clock }
	th, err := townhall.Open(t.Context(), t.TempDir(), o)
	require.NoError(t, err)
	defer th.Close()
	_, err = th.AddKit(t.Context(), "kit-1", "https://th.example")
	require.NoError(t, err)
	ident, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	require.NoError(t, th.SetVisitRecipient(t.Context(), "kit-1", ident.Recipient().String()))
	assert.Error(t, th.SetVisitRecipient(t.Context(), "kit-nope", ident.Recipient().String()))
	pack, err := os.ReadFile("../../testdata/visits/2026-11-24.json")
	require.NoError(t, err)
	_, err = th.AddVisits(t.Context(), "kit-1", pack)
	require.NoError(t, err)

	n, err := th.ExpireVisits(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "kept through its day")
	next := day.Add(2 * time.Hour)
	clock = &next
	n, err = th.ExpireVisits(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "gone the day after")
}

// TestStaleCertificateRefused: a certificate with the kit's name but not its enrolled key (one
// issued before a re-enrolment) is refused.
func TestStaleCertificateRefused(t *testing.T) { onBackends(t, testStaleCertificateRefused) }

func testStaleCertificateRefused(t *testing.T, f *fixture) {
	old, err := f.th.CA().Issue("kit-1", f.url, f.th.Recipient(), time.Now())
	require.NoError(t, err)
	resp, err := client(t, old).Get(f.url + "/v1/visits")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, err = f.http.Get(f.url + "/v1/visits")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the enrolled certificate still works")
}

func TestUploadKeyNamesTheUpload(t *testing.T) {
	f := start(t)
	c := &tus.Client{HTTP: f.http}
	key := uuid.NewString()
	data := []byte("some packet bytes")
	u, a, err := c.CreateWithUpload(t.Context(), f.url+townhall.FilesPath, bytes.NewReader(data), int64(len(data)), map[string]string{"upload_key": key}, nil)
	require.NoError(t, err)
	assert.Equal(t, f.url+townhall.FilesPath+key, u, "the kit knew the URL before sending")
	assert.Equal(t, int64(len(data)), a.Offset)

	var se *tus.StatusError
	_, err = c.Create(t.Context(), f.url+townhall.FilesPath, 3, map[string]string{"upload_key": key})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusConflict, se.Status, "a key is never reused")
	_, err = c.Create(t.Context(), f.url+townhall.FilesPath, 3, map[string]string{"upload_key": "../etc"})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusBadRequest, se.Status)
}

func TestAuditChainIsContinued(t *testing.T) { onBackends(t, testAuditChainIsContinued) }

func testAuditChainIsContinued(t *testing.T, f *fixture) {
	version := ""
	post := func(entries []receipt.AuditEntry) (int, receipt.Problem) {
		b, err := json.Marshal(entries)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, f.url+"/v1/audit", bytes.NewReader(b))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if version != "" {
			req.Header.Set(receipt.VersionHeader, version)
		}
		resp, err := f.http.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var p receipt.Problem
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p
	}
	e1 := receipt.AuditEntry{Seq: 1, At: time.Now(), Event: "case_sealed", Actor: "kit", Hash: []byte{1}}
	e2 := receipt.AuditEntry{Seq: 2, At: time.Now(), Event: "case_delivered", Actor: "kit", PrevHash: []byte{1}, Hash: []byte{2}}
	status, _ := post([]receipt.AuditEntry{e1, e2})
	require.Equal(t, http.StatusOK, status)
	v, err := f.th.KitVersion(t.Context(), "kit-1")
	require.NoError(t, err)
	assert.Empty(t, v, "no version sent yet")
	version = "1.4.0"
	status, _ = post([]receipt.AuditEntry{e1, e2}) // sent twice: fine
	assert.Equal(t, http.StatusOK, status)
	v, err = f.th.KitVersion(t.Context(), "kit-1")
	require.NoError(t, err)
	assert.Equal(t, "1.4.0", v, "the version sent with a batch is kept")

	tests := []struct {
		name  string
		entry receipt.AuditEntry
	}{
		{name: "gap in seq", entry: receipt.AuditEntry{Seq: 4, PrevHash: []byte{2}, Hash: []byte{4}}},
		{name: "broken link", entry: receipt.AuditEntry{Seq: 3, PrevHash: []byte{9}, Hash: []byte{3}}},
		{name: "rewritten history", entry: receipt.AuditEntry{Seq: 2, PrevHash: []byte{1}, Hash: []byte{7}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, p := post([]receipt.AuditEntry{tt.entry})
			assert.Equal(t, http.StatusConflict, status)
			assert.Equal(t, receipt.CodeAuditGap, p.Code)
		})
	}
	got, err := f.th.AuditLog(t.Context(), "kit-1")
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

// cutAfter hands out the first n bytes of data, then fails like a dropped link.
type cutAfter struct {
	data []byte
	n    int64
}

func (c cutAfter) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.n {
		return 0, errors.New("link dropped")
	}
	return copy(p[:min(int64(len(p)), c.n-off)], c.data[off:]), nil
}

func TestCutCreationResumes(t *testing.T) { onBackends(t, testCutCreationResumes) }

// testCutCreationResumes: a creation-with-upload cut halfway leaves the upload at the URL the
// kit chose, HEAD tells what arrived, and a PATCH of the rest completes it with the receipt.
func testCutCreationResumes(t *testing.T, f *fixture) {
	caseID := uuid.Must(uuid.NewV7()).String()
	scan := make([]byte, 200<<10)
	_, _ = rand.Read(scan)
	data := seal(t, f.kit, nil, caseID, []packet.Part{{Name: "scan.pdf", Kind: packet.KindScan, Data: scan}})
	c := &tus.Client{HTTP: f.http}
	key := uuid.NewString()
	u := f.url + townhall.FilesPath + key
	meta := map[string]string{"upload_key": key, "case_id": caseID, "packet_sha256": hash(data)}
	_, _, err := c.CreateWithUpload(t.Context(), f.url+townhall.FilesPath, cutAfter{data: data, n: 100 << 10}, int64(len(data)), meta, nil)
	require.Error(t, err)
	var off int64
	require.Eventually(t, func() bool {
		var err error
		off, _, err = c.Offset(t.Context(), u)
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "the cut upload is there")
	assert.LessOrEqual(t, off, int64(100<<10))
	a, err := c.Patch(t.Context(), u, bytes.NewReader(data), off, int64(len(data)), nil)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), a.Offset)
	assert.Equal(t, receipt.CommitReceipt, a.Header.Get(receipt.CommitHeader), string(a.Body))
	p, err := f.th.OpenCase(t.Context(), caseID)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(scan, p.Parts[0].Data))
}
