package scanpdf_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/documents/scanpdf"
	"koffer/devices"
	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
	"koffer/devices/peer"
)

// scanToPDF runs a whole scan from srv into path, as the CLI and the agent do.
func scanToPDF(t *testing.T, srv *escltest.Server, p escl.Profile, path string) (int, error) {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	c, err := escl.New(hs.URL+"/eSCL", escl.Options{RetryDelay: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	caps, err := c.Capabilities(ctx)
	require.NoError(t, err)
	s, err := caps.Settings(p, c.Quirks())
	require.NoError(t, err)
	return scanpdf.WriteFile(path, func(w *scanpdf.Writer) error {
		_, err := c.Scan(ctx, caps, s, func(pg *escl.Page) error {
			return w.AddJPEG(pg.Body, s.Resolution.X, s.Resolution.Y)
		})
		return err
	})
}

// pdfinfoPages runs poppler's pdfinfo and returns its page count and page size line.
func pdfinfoPages(t *testing.T, path string) (int, string) {
	t.Helper()
	bin := peer.Need(t, "pdfinfo")[0]
	out, err := exec.CommandContext(t.Context(), bin, path).CombinedOutput()
	require.NoError(t, err, "pdfinfo: %s", out)
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`).FindSubmatch(out)
	require.NotNil(t, m, "pdfinfo output: %s", out)
	n, _ := strconv.Atoi(string(m[1]))
	size := regexp.MustCompile(`(?m)^Page size:\s+(.*)$`).FindSubmatch(out)
	require.NotNil(t, size)
	return n, string(size[1])
}

func TestScanToValidPDF(t *testing.T) {
	tests := []struct {
		name    string
		model   string
		b       escltest.Behaviour
		profile escl.Profile
		pages   int
	}{
		{name: "flatbed grey", model: "HP-LaserJet-MFP-M426fdn", pages: 1},
		{name: "flatbed colour photo", model: "Xerox-B235", profile: escl.Profile{Color: true}, pages: 1},
		{name: "3-page ADF", model: "Kyocera-ECOSYS-M2040dn", profile: escl.Profile{Source: escl.Feeder}, b: escltest.Behaviour{ADFPages: 3}, pages: 3},
		{name: "3-page ADF with 503s, broken Location and a 409", model: "HP-LaserJet-MFP-M426fdn", profile: escl.Profile{Source: escl.Feeder},
			b: escltest.Behaviour{ADFPages: 3, Busy503: 2, Location: escltest.LocationBrokenHost, Reject: []int{300}, EarlyNotFound: 1}, pages: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := escltest.NewFromFixture(t, tt.model, tt.b)
			path := filepath.Join(t.TempDir(), "scan.pdf")
			n, err := scanToPDF(t, srv, tt.profile, path)
			require.NoError(t, err)
			assert.Equal(t, tt.pages, n)

			require.NoError(t, api.ValidateFile(path, model.NewDefaultConfiguration()), "pdfcpu validation")
			count, err := api.PageCountFile(path)
			require.NoError(t, err)
			assert.Equal(t, tt.pages, count, "pdfcpu page count")

			got, size := pdfinfoPages(t, path)
			assert.Equal(t, tt.pages, got, "pdfinfo page count")
			if tt.b.Reject == nil {
				assert.Contains(t, size, "595.2 x 841.92 pts", "A4 at the scanned resolution")
			}

			// The JPEG the scanner sent is in the PDF byte for byte: no re-encoding.
			pdf, err := os.ReadFile(path)
			require.NoError(t, err)
			posted := srv.Posted()
			page := escltest.RenderPage(posted[len(posted)-1])
			assert.Equal(t, tt.pages, bytes.Count(pdf, page), "each page's JPEG embedded unchanged")
		})
	}
}

func TestNoPartialPDF(t *testing.T) {
	tests := []struct {
		name string
		b    escltest.Behaviour
		code string
	}{
		{name: "jam after 2 pages", b: escltest.Behaviour{ADFPages: 5, JamAfter: 2}, code: escl.CodeADFJam},
		{name: "unplugged during page 2", b: escltest.Behaviour{ADFPages: 3, DropAfter: 1}, code: escl.CodeUnreachable},
		{name: "page is not a JPEG", b: escltest.Behaviour{BadPage: true}, code: scanpdf.CodeBadPage},
		{name: "ADF empty", b: escltest.Behaviour{ADFEmpty: true}, code: escl.CodeADFEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "scan.pdf")
			srv := escltest.NewFromFixture(t, "Kyocera-ECOSYS-M2040dn", tt.b)
			_, err := scanToPDF(t, srv, escl.Profile{Source: escl.Feeder}, path)
			var de *devices.Error
			require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
			assert.Equal(t, tt.code, de.Code)
			assert.NotEmpty(t, de.Hint)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "neither the PDF nor a temporary file is left behind")
		})
	}
}

func TestWriterRefusesBadPages(t *testing.T) {
	good := escltest.RenderPage(escl.Settings{Width: 300, Height: 300, Resolution: escl.Resolution{X: 100, Y: 100}, ColorMode: escl.Grayscale8})
	tests := []struct {
		name string
		page []byte
	}{
		{name: "empty", page: nil},
		{name: "text", page: []byte("%PDF-1.4 not a jpeg")},
		{name: "truncated JPEG", page: good[:len(good)-200]},
		{name: "header only", page: good[:20]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w, err := scanpdf.NewWriter(&out, scanpdf.Options{})
			require.NoError(t, err)
			err = w.AddJPEG(bytes.NewReader(tt.page), 300, 300)
			var de *devices.Error
			require.True(t, errors.As(err, &de), "got %v", err)
			assert.Equal(t, scanpdf.CodeBadPage, de.Code)
			assert.Equal(t, 0, w.Pages())
			assert.Error(t, w.Close(), "a writer with no good page never closes into a document")
		})
	}
}

func TestWriterBrokenReader(t *testing.T) {
	var out bytes.Buffer
	w, err := scanpdf.NewWriter(&out, scanpdf.Options{})
	require.NoError(t, err)
	err = w.AddJPEG(io.MultiReader(bytes.NewReader([]byte{0xff, 0xd8}), errReader{}), 300, 300)
	assert.ErrorIs(t, err, errBroken)
}

var errBroken = errors.New("link down")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

func FuzzAddJPEG(f *testing.F) {
	f.Add(escltest.RenderPage(escl.Settings{Width: 30, Height: 30, Resolution: escl.Resolution{X: 100, Y: 100}, ColorMode: escl.RGB24}))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xd9})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		w, err := scanpdf.NewWriter(&out, scanpdf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddJPEG(bytes.NewReader(data), 300, 300); err != nil {
			_ = w.Close()
			return
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := api.Validate(bytes.NewReader(out.Bytes()), model.NewDefaultConfiguration()); err != nil {
			t.Fatalf("accepted page makes an invalid pdf: %v", err)
		}
	})
}
