package townhall_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/packet"
	"koffer/sync/receipt"
	"koffer/sync/townhall"
	"koffer/sync/tus"
)

// tusDo sends one raw tus request and returns its status and body.
func tusDo(t *testing.T, hc *http.Client, method, url string, body []byte, h map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, raw
}

func problemCode(t *testing.T, raw []byte) string {
	t.Helper()
	var p receipt.Problem
	require.NoError(t, json.Unmarshal(raw, &p), string(raw))
	return p.Code
}

// TestCrossKitUploads: kit B's HEAD, PATCH, DELETE and commit on kit A's upload are refused,
// and A's case still arrives exactly once.
func TestCrossKitUploads(t *testing.T) { onBackends(t, testCrossKitUploads) }

func testCrossKitUploads(t *testing.T, f *fixture) {
	kitB, err := f.th.AddKit(t.Context(), "kit-2", f.url)
	require.NoError(t, err)
	hb := client(t, kitB)

	scan := make([]byte, 200<<10)
	_, _ = rand.Read(scan)
	caseA := uuid.Must(uuid.NewV7()).String()
	dataA := seal(t, f.kit, nil, caseA, []packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"a":1}`)}, {Name: "scan.pdf", Kind: packet.KindScan, Data: scan}})
	ca := &tus.Client{HTTP: f.http}
	meta := map[string]string{"case_id": caseA, "packet_sha256": hash(dataA)}
	u, err := ca.Create(t.Context(), f.url+townhall.FilesPath, int64(len(dataA)), meta)
	require.NoError(t, err)
	half := int64(len(dataA) / 2)
	_, err = ca.Patch(t.Context(), u, bytes.NewReader(dataA[:half]), 0, half, nil)
	require.NoError(t, err)

	// B delivers a case of its own, so a commit of it naming A's upload takes the path that
	// answers a case committed before (and used to terminate the named upload unchecked).
	caseB := uuid.Must(uuid.NewV7()).String()
	dataB := seal(t, kitB, nil, caseB, []packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"b":1}`)}})
	status, rcptB := commit(t, f, hb, caseB, upload(t, f, hb, dataB, len(dataB)), hash(dataB))
	require.Equal(t, http.StatusOK, status, string(rcptB))

	garbage := bytes.Repeat([]byte{0xAA}, int(int64(len(dataA))-half))
	off := strconv.FormatInt(half, 10)
	tests := []struct {
		name   string
		method string
		body   []byte
		h      map[string]string
	}{
		{"HEAD", http.MethodHead, nil, nil},
		{"PATCH", http.MethodPatch, garbage, map[string]string{"Upload-Offset": off, "Content-Type": "application/offset+octet-stream"}},
		{"DELETE", http.MethodDelete, nil, nil},
		{"GET", http.MethodGet, nil, nil},
		{"PATCH on an S3-style id", http.MethodPatch, garbage, map[string]string{"Upload-Offset": off, "Content-Type": "application/offset+octet-stream", "X-Suffix": "+x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := u
			if tt.h["X-Suffix"] != "" {
				target += tt.h["X-Suffix"]
			}
			status, raw := tusDo(t, hb, tt.method, target, tt.body, tt.h)
			assert.Equal(t, http.StatusForbidden, status, string(raw))
			if tt.method != http.MethodHead {
				assert.Equal(t, receipt.CodeKitMismatch, problemCode(t, raw))
			}
		})
	}
	t.Run("commit of A's case", func(t *testing.T) {
		status, raw := commit(t, f, hb, caseA, u, "")
		assert.Equal(t, http.StatusForbidden, status, string(raw))
		assert.Equal(t, receipt.CodeKitMismatch, problemCode(t, raw))
	})
	t.Run("commit of B's own case naming A's upload", func(t *testing.T) {
		status, raw := commit(t, f, hb, caseB, u, "")
		assert.Equal(t, http.StatusOK, status, string(raw))
		assert.Equal(t, rcptB, raw, "B gets its own receipt again")
	})

	// A's upload is untouched: its offset stands, the rest completes it, the receipt is A's.
	offset, length, err := ca.Offset(t.Context(), u)
	require.NoError(t, err)
	require.Equal(t, half, offset)
	require.Equal(t, int64(len(dataA)), length)
	ans, err := ca.Patch(t.Context(), u, bytes.NewReader(dataA), half, int64(len(dataA)), nil)
	require.NoError(t, err)
	require.Equal(t, receipt.CommitReceipt, ans.Header.Get(receipt.CommitHeader), string(ans.Body))
	caCert, err := receipt.ParseCA(f.kit.CAPEM)
	require.NoError(t, err)
	body, err := receipt.Verify(ans.Body, caCert, time.Now())
	require.NoError(t, err)
	assert.Equal(t, caseA, body.CaseID)
	assert.Equal(t, "kit-1", body.KitID)
	assert.Equal(t, hash(dataA), body.SHA256)

	inbox, err := f.th.Inbox(t.Context())
	require.NoError(t, err)
	n := 0
	for _, c := range inbox {
		if c.CaseID == caseA {
			n++
		}
	}
	assert.Equal(t, 1, n, "A's case arrives exactly once")
	assert.Len(t, inbox, 2)
	p, err := f.th.OpenCase(t.Context(), caseA)
	require.NoError(t, err)
	require.Len(t, p.Parts, 2)
	assert.True(t, bytes.Equal(scan, p.Parts[1].Data))

	// The committed upload is gone, for A too.
	status, _ = tusDo(t, f.http, http.MethodHead, u, nil, nil)
	assert.Equal(t, http.StatusNotFound, status)
}

// testClock is an injected clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// TestUploadQuota: one kit cannot hold more than its quota, and stale uploads are purged from
// the packet store (files or S3 objects).
func TestUploadQuota(t *testing.T) {
	run := func(t *testing.T, o townhall.Options, objects string) {
		clock := &testClock{now: time.Now()}
		o.Now = clock.Now
		o.MaxOpenUploads = 2
		o.MaxUploadBytes = 10_000
		o.UploadTTL = time.Hour
		f := startWith(t, o)
		storeDir := filepath.Join(f.dir, "uploads")
		if objects != "" {
			storeDir = objects
		}
		testUploadQuota(t, f, clock, storeDir)
	}
	t.Run("embedded", func(t *testing.T) { run(t, townhall.Options{}, "") })
	t.Run("postgres+s3", func(t *testing.T) {
		o, objects := providerBackends(t)
		run(t, o, objects)
	})
}

func testUploadQuota(t *testing.T, f *fixture, clock *testClock, storeDir string) {
	create := func(hc *http.Client, size int, h map[string]string) (int, string) {
		t.Helper()
		hh := map[string]string{"Upload-Length": strconv.Itoa(size), "Upload-Metadata": tus.EncodeMetadata(map[string]string{"case_id": uuid.NewString()})}
		for k, v := range h {
			hh[k] = v
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.url+townhall.FilesPath, nil)
		require.NoError(t, err)
		req.Header.Set("Tus-Resumable", "1.0.0")
		for k, v := range hh {
			req.Header.Set(k, v)
		}
		if hh["Upload-Length"] == "" {
			req.Header.Del("Upload-Length")
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		loc := resp.Header.Get("Location")
		if loc != "" {
			loc, err = tus.ParseLocation(f.url+townhall.FilesPath, loc)
			require.NoError(t, err)
		}
		return resp.StatusCode, loc
	}
	kit2, err := f.th.AddKit(t.Context(), "kit-2", f.url)
	require.NoError(t, err)
	h2 := client(t, kit2)

	status, a1 := create(f.http, 1000, nil)
	require.Equal(t, http.StatusCreated, status)
	_, err = (&tus.Client{HTTP: f.http}).Patch(t.Context(), a1, bytes.NewReader(make([]byte, 500)), 0, 500, nil)
	require.NoError(t, err)
	status, _ = create(f.http, 9500, nil)
	assert.Equal(t, http.StatusTooManyRequests, status, "1000 + 9500 bytes exceed the 10000 of the quota")
	status, _ = create(f.http, 0, map[string]string{"Upload-Length": "", "Upload-Defer-Length": "1"})
	assert.Equal(t, http.StatusBadRequest, status, "a deferred length escapes the quota")
	status, a2 := create(f.http, 1000, nil)
	require.Equal(t, http.StatusCreated, status)
	status, _ = create(f.http, 10, nil)
	assert.Equal(t, http.StatusTooManyRequests, status, "two uploads open: the third is refused")

	// The quota is per kit: kit-2 is not held up by kit-1.
	status, b1 := create(h2, 9000, nil)
	require.Equal(t, http.StatusCreated, status)
	clock.Add(40 * time.Minute)
	status, b2 := create(h2, 100, nil)
	require.Equal(t, http.StatusCreated, status)

	id := func(u string) string { return u[strings.LastIndex(u, "/")+1:] }
	stored := func(u string) bool {
		key, _, _ := strings.Cut(id(u), "+")
		found := false
		_ = filepath.WalkDir(storeDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(p, key) {
				found = true
			}
			return nil
		})
		return found
	}
	require.True(t, stored(a1), "the upload's data is in the store before the purge")

	// Nothing is stale yet.
	n, err := f.th.PurgeStaleUploads(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)

	clock.Add(30 * time.Minute) // a1, a2, b1 are 70 minutes old, b2 30
	n, err = f.th.PurgeStaleUploads(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	for _, u := range []string{a1, a2, b1} {
		assert.False(t, stored(u), "purged upload %s left data in the store", id(u))
	}
	hc := map[string]*http.Client{a1: f.http, a2: f.http, b1: h2, b2: h2}
	for _, u := range []string{a1, a2, b1} {
		status, _ := tusDo(t, hc[u], http.MethodHead, u, nil, nil)
		assert.Equal(t, http.StatusNotFound, status)
	}
	status, _ = tusDo(t, h2, http.MethodHead, b2, nil, nil)
	assert.Equal(t, http.StatusOK, status, "a fresh upload survives the purge")

	// The purge freed kit-1's quota.
	status, a3 := create(f.http, 9000, nil)
	require.Equal(t, http.StatusCreated, status)
	status, _ = create(f.http, 9000, nil)
	require.Equal(t, http.StatusTooManyRequests, status)
	// So does the kit's own DELETE.
	require.NoError(t, (&tus.Client{HTTP: f.http}).Terminate(t.Context(), a3))
	status, _ = create(f.http, 9000, nil)
	assert.Equal(t, http.StatusCreated, status)
}

// BenchmarkCommitLargePacket commits a 64 MiB packet on the embedded town hall and reports
// the peak heap growth during the commit request alone (verification streams; the packet
// store then takes the verified bytes in one buffer).
func BenchmarkCommitLargePacket(b *testing.B) {
	th, err := townhall.Open(b.Context(), b.TempDir(), townhall.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	b.Cleanup(func() { _ = th.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	url := "https://" + ln.Addr().String()
	cfg, err := th.ServerTLS()
	require.NoError(b, err)
	done := make(chan error, 1)
	go func() { done <- th.Serve(b.Context(), ln, cfg) }()
	b.Cleanup(func() { <-done })
	kit, err := th.AddKit(b.Context(), "kit-1", url)
	require.NoError(b, err)
	tlsCfg, err := kit.ClientTLS()
	require.NoError(b, err)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: time.Minute}
	key, err := kit.SigningKey()
	require.NoError(b, err)
	rcp, err := kit.AgeRecipient()
	require.NoError(b, err)
	sealer := &packet.Sealer{KitID: kit.KitID, Key: key, Recipient: rcp}

	scan := make([]byte, 64<<20)
	_, _ = rand.Read(scan)
	var peak uint64
	for b.Loop() {
		caseID := uuid.Must(uuid.NewV7()).String()
		var buf bytes.Buffer
		_, err := sealer.Seal(&buf, packet.Manifest{CaseID: caseID, Service: "meldebescheinigung", CreatedAt: time.Now()},
			[]packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{}`)}, {Name: "scan.pdf", Kind: packet.KindScan, Data: scan}})
		require.NoError(b, err)
		data := buf.Bytes()
		c := &tus.Client{HTTP: hc}
		u, err := c.Create(b.Context(), url+townhall.FilesPath, int64(len(data)), nil)
		require.NoError(b, err)
		_, err = c.Patch(b.Context(), u, bytes.NewReader(data), 0, int64(len(data)), nil)
		require.NoError(b, err)
		body, err := json.Marshal(receipt.CommitRequest{UploadID: u[strings.LastIndex(u, "/")+1:], SHA256: hash(data)})
		require.NoError(b, err)
		buf, data = bytes.Buffer{}, nil
		p, status := heapDuring(func() int {
			resp, err := hc.Post(url+"/v1/packets/"+caseID, "application/json", bytes.NewReader(body))
			require.NoError(b, err)
			_ = resp.Body.Close()
			return resp.StatusCode
		})
		require.Equal(b, http.StatusOK, status)
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
}

// heapDuring runs fn while sampling the heap and returns the largest growth seen.
func heapDuring(fn func() int) (uint64, int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var s runtime.MemStats
		for {
			runtime.ReadMemStats(&s)
			if s.HeapAlloc > base && s.HeapAlloc-base > peak.Load() {
				peak.Store(s.HeapAlloc - base)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	status := fn()
	close(stop)
	<-done
	return peak.Load(), status
}
