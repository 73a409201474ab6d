package tus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tus/tusd/v2/pkg/filestore"
	tushandler "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"

	"koffer/sync/tus"
)

// tusd starts a real tusd server storing into a temporary directory.
func tusd(t *testing.T) (endpoint, dir string) {
	t.Helper()
	dir = t.TempDir()
	composer := tushandler.NewStoreComposer()
	filestore.New(dir).UseIn(composer)
	memorylocker.New().UseIn(composer)
	h, err := tushandler.NewHandler(tushandler.Config{BasePath: "/files/", StoreComposer: composer, NetworkTimeout: 2 * time.Second})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/files/", dir
}

// failingReader hands out the first n bytes of data, then fails like a dropped link.
type failingReader struct {
	data []byte
	n    int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.n {
		return 0, errors.New("link dropped")
	}
	n := copy(p[:min(int64(len(p)), f.n-off)], f.data[off:])
	return n, nil
}

func TestUploadResumesFromServerOffset(t *testing.T) {
	endpoint, dir := tusd(t)
	data := make([]byte, 3<<20)
	_, err := rand.Read(data)
	require.NoError(t, err)
	c := &tus.Client{Timeout: 5 * time.Second}
	ctx := t.Context()

	u, err := c.Create(ctx, endpoint, int64(len(data)), map[string]string{"case": "c1"})
	require.NoError(t, err)
	require.Contains(t, u, endpoint)

	// The first PATCH dies after 1 MiB handed out; the server keeps what reached it.
	var sent int64
	_, err = c.Patch(ctx, u, failingReader{data: data, n: 1 << 20}, 0, int64(len(data)), func(n int64) { sent = n })
	require.Error(t, err)
	assert.Equal(t, int64(1<<20), sent)

	// The aborted PATCH can still be landing on the server (its bytes were in flight), so the
	// resume follows tus: HEAD, PATCH from there, and again while the server is out of step.
	var got, last int64
	for round := 0; ; round++ {
		require.Less(t, round, 5, "resumed within a few rounds")
		off, length, err := c.Offset(ctx, u)
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), length)
		if round == 0 {
			assert.LessOrEqual(t, off, int64(1<<20), "the server holds no more than was sent")
		} else {
			// A resumed PATCH that was itself interrupted keeps what it wrote.
			assert.GreaterOrEqual(t, off, last, "the server's offset never goes back")
		}
		last = off
		var a tus.Answer
		a, err = c.Patch(ctx, u, bytes.NewReader(data), off, int64(len(data)), nil)
		got = a.Offset
		if errors.Is(err, tus.ErrOffsetMismatch) || errors.Is(err, tus.ErrInterrupted) {
			continue
		}
		require.NoError(t, err)
		break
	}
	assert.Equal(t, int64(len(data)), got)

	stored, err := os.ReadFile(filepath.Join(dir, path.Base(u)))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, stored), "server holds the file byte for byte")

	// Patching from a stale offset is refused and reported as such.
	_, err = c.Patch(ctx, u, bytes.NewReader(data), 0, int64(len(data)), nil)
	assert.ErrorIs(t, err, tus.ErrOffsetMismatch)

	require.NoError(t, c.Terminate(ctx, u))
	_, _, err = c.Offset(ctx, u)
	assert.ErrorIs(t, err, tus.ErrNotFound)
	assert.NoError(t, c.Terminate(ctx, u), "terminating twice is fine")
}

func TestCreateWithUpload(t *testing.T) {
	endpoint, dir := tusd(t)
	data := make([]byte, 200<<10)
	_, _ = rand.Read(data)
	c := &tus.Client{}
	u, a, err := c.CreateWithUpload(t.Context(), endpoint, bytes.NewReader(data), int64(len(data)), map[string]string{"case": "c2"}, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), a.Offset)
	stored, err := os.ReadFile(filepath.Join(dir, path.Base(u)))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, stored))

	// Cut during creation: the server keeps what arrived, HEAD says how much.
	u, _, err = c.CreateWithUpload(t.Context(), endpoint, failingReader{data: data, n: 64 << 10}, int64(len(data)), nil, nil)
	require.Error(t, err)
	assert.Empty(t, u, "the URL is not known from a failed answer: the caller must have it beforehand")
}

func TestPatchHonoursContext(t *testing.T) {
	// A server that accepts the request and then never answers.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-block
	}))
	t.Cleanup(func() { close(block); srv.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := (&tus.Client{}).Patch(ctx, srv.URL, bytes.NewReader([]byte("abc")), 0, 3, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	_, _, err = (&tus.Client{Timeout: 100 * time.Millisecond}).Offset(t.Context(), srv.URL)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestWrongAnswers(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		call    func(c *tus.Client, u string) error
		wantErr error
	}{
		{
			name: "PATCH confirms an offset beyond the file",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Tus-Resumable", tus.Version)
				w.Header().Set("Upload-Offset", "99")
				w.WriteHeader(http.StatusNoContent)
			},
			call: func(c *tus.Client, u string) error {
				_, err := c.Patch(context.Background(), u, bytes.NewReader([]byte("abc")), 0, 3, nil)
				return err
			},
			wantErr: tus.ErrProtocol,
		},
		{
			name: "HEAD without offset",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Tus-Resumable", tus.Version)
			},
			call: func(c *tus.Client, u string) error {
				_, _, err := c.Offset(context.Background(), u)
				return err
			},
			wantErr: tus.ErrProtocol,
		},
		{
			name: "creation sends the kit to another host",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "https://evil.example/files/1")
				w.WriteHeader(http.StatusCreated)
			},
			call: func(c *tus.Client, u string) error {
				_, err := c.Create(context.Background(), u, 3, nil)
				return err
			},
			wantErr: tus.ErrProtocol,
		},
		{
			name: "5xx",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
			},
			call: func(c *tus.Client, u string) error {
				_, _, err := c.Offset(context.Background(), u)
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			err := tt.call(&tus.Client{Timeout: 2 * time.Second}, srv.URL+"/files/")
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				var se *tus.StatusError
				assert.ErrorAs(t, err, &se)
			}
		})
	}
}

func TestParseHead(t *testing.T) {
	tests := []struct {
		name           string
		offset, length string
		resumable      string
		wantOff        int64
		wantLen        int64
		wantErr        bool
	}{
		{name: "both", offset: "10", length: "20", resumable: tus.Version, wantOff: 10, wantLen: 20},
		{name: "deferred length", offset: "0", resumable: tus.Version, wantOff: 0, wantLen: -1},
		{name: "complete", offset: "20", length: "20", resumable: tus.Version, wantOff: 20, wantLen: 20},
		{name: "beyond length", offset: "21", length: "20", resumable: tus.Version, wantErr: true},
		{name: "negative", offset: "-1", length: "20", resumable: tus.Version, wantErr: true},
		{name: "plus sign", offset: "+1", length: "20", resumable: tus.Version, wantErr: true},
		{name: "overflow", offset: "99999999999999999999", resumable: tus.Version, wantErr: true},
		{name: "missing", length: "20", resumable: tus.Version, wantErr: true},
		{name: "not tus", offset: "1", length: "20", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range map[string]string{"Upload-Offset": tt.offset, "Upload-Length": tt.length, "Tus-Resumable": tt.resumable} {
				if v != "" {
					h.Set(k, v)
				}
			}
			off, length, err := tus.ParseHead(h)
			if tt.wantErr {
				assert.ErrorIs(t, err, tus.ErrProtocol)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantOff, off)
			assert.Equal(t, tt.wantLen, length)
		})
	}
}

func FuzzParseHead(f *testing.F) {
	f.Add("10", "20", tus.Version)
	f.Add("", "", "")
	f.Add("007", "7", tus.Version)
	f.Add("9223372036854775807", "9223372036854775807", tus.Version)
	f.Fuzz(func(t *testing.T, offset, length, resumable string) {
		h := http.Header{"Upload-Offset": {offset}, "Upload-Length": {length}, "Tus-Resumable": {resumable}}
		off, l, err := tus.ParseHead(h)
		if err != nil {
			return
		}
		if off < 0 || (l >= 0 && off > l) || l < -1 {
			t.Fatalf("accepted offset %d length %d", off, l)
		}
	})
}

func FuzzParseLocation(f *testing.F) {
	f.Add("https://th.example/files/", "/files/abc")
	f.Add("https://th.example/files/", "//evil.example/x")
	f.Add("https://th.example/files/", "abc")
	f.Fuzz(func(t *testing.T, endpoint, loc string) {
		u, err := tus.ParseLocation(endpoint, loc)
		if err != nil {
			return
		}
		if !bytes.HasPrefix([]byte(u), []byte("http")) {
			t.Fatalf("accepted %q", u)
		}
		if strings.HasPrefix(endpoint, "https:") && !strings.HasPrefix(u, "https:") {
			t.Fatalf("accepted a downgrade to %q", u)
		}
	})
}

// TestLocationDowngradeRefused: a creation answer pointing an https upload at http on the
// same host is refused before a byte of the packet is sent.
func TestLocationDowngradeRefused(t *testing.T) {
	var patched atomic.Bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			patched.Store(true)
		}
		w.Header().Set("Tus-Resumable", "1.0.0")
		w.Header().Set("Location", "http://"+r.Host+"/files/abc")
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	c := &tus.Client{HTTP: srv.Client(), Timeout: 5 * time.Second}
	_, err := c.Create(t.Context(), srv.URL+"/files/", 3, nil)
	require.ErrorIs(t, err, tus.ErrProtocol)
	assert.Contains(t, err.Error(), "scheme")
	_, _, err = c.CreateWithUpload(t.Context(), srv.URL+"/files/", bytes.NewReader([]byte("abc")), 3, nil, nil)
	require.ErrorIs(t, err, tus.ErrProtocol)
	assert.False(t, patched.Load(), "no PATCH may follow a downgraded Location")

	tests := []struct {
		endpoint, loc string
		ok            bool
	}{
		{"https://th.example/files/", "http://th.example/files/abc", false},
		{"https://th.example/files/", "/files/abc", true},
		{"https://th.example/files/", "https://th.example/files/abc", true},
		{"http://127.0.0.1:1/files/", "/files/abc", true},
	}
	for _, tt := range tests {
		_, err := tus.ParseLocation(tt.endpoint, tt.loc)
		assert.Equal(t, tt.ok, err == nil, "%s + %s: %v", tt.endpoint, tt.loc, err)
	}
}

// TestPatchInterrupted: the server's "interrupted by another request" answers are
// ErrInterrupted, which callers meet with HEAD and resume.
func TestPatchInterrupted(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{name: "tusd interrupted", status: http.StatusBadRequest, body: "ERR_UPLOAD_INTERRUPTED: upload has been interrupted\n", want: tus.ErrInterrupted},
		{name: "locked", status: http.StatusLocked, want: tus.ErrInterrupted},
		{name: "other bad request", status: http.StatusBadRequest, body: "ERR_INVALID_OFFSET\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			c := &tus.Client{Timeout: 5 * time.Second}
			_, err := c.Patch(t.Context(), srv.URL+"/files/x", bytes.NewReader([]byte("abc")), 0, 3, nil)
			require.Error(t, err)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			} else {
				assert.NotErrorIs(t, err, tus.ErrInterrupted)
			}
		})
	}
}
