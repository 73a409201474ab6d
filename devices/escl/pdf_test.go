package escl_test

import (
	"bytes"
	"errors"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
)

func encodeJPEG(t *testing.T, w, h int, colour bool, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, escltest.Page(w, h, colour, n), &jpeg.Options{Quality: 75}))
	return b.Bytes()
}

func TestPDFWriterEmbedsJPEGUnchanged(t *testing.T) {
	grey := encodeJPEG(t, 620, 877, false, 1)
	colour := encodeJPEG(t, 620, 877, true, 2)
	path := filepath.Join(t.TempDir(), "two.pdf")
	f, err := os.Create(path)
	require.NoError(t, err)
	pw := escl.NewPDFWriter(f)
	require.NoError(t, pw.AddJPEG(bytes.NewReader(grey), 75))
	require.NoError(t, pw.AddJPEG(bytes.NewReader(colour), 75))
	require.NoError(t, pw.Close())
	require.NoError(t, f.Close())

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Contains(raw, grey), "grey page bytes embedded as sent")
	assert.True(t, bytes.Contains(raw, colour), "colour page bytes embedded as sent")
	assert.Contains(t, string(raw), "/DeviceGray")
	assert.Contains(t, string(raw), "/DeviceRGB")
	// 620 px at 75 dpi = 595.20 pt: A4 width.
	assert.Contains(t, string(raw), "/MediaBox [0 0 595.20 841.92]")
	checkPDF(t, path, 2)
	checkPDFInfo(t, path, 2)
}

func TestPDFWriterRejectsBadPages(t *testing.T) {
	good := encodeJPEG(t, 64, 64, false, 1)
	tests := []struct {
		name string
		page []byte
	}{
		{name: "html instead of jpeg", page: []byte("<html>503</html>")},
		{name: "empty", page: nil},
		{name: "truncated", page: good[:len(good)-200]},
		{name: "png", page: []byte("\x89PNG\r\n\x1a\n0000")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			pw := escl.NewPDFWriter(&out)
			err := pw.AddJPEG(bytes.NewReader(tt.page), 300)
			var de *devices.Error
			require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
			assert.Equal(t, escl.CodeBadPage, de.Code)
			assert.Error(t, pw.Close(), "a PDF with a bad page cannot be finished")
		})
	}
}

func TestPDFWriterWithoutPages(t *testing.T) {
	pw := escl.NewPDFWriter(&bytes.Buffer{})
	assert.Error(t, pw.Close())
}
