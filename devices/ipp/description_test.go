package ipp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
)

func needFixtures(t *testing.T) string {
	t.Helper()
	return peer.Fixtures(t, "ipp")
}

func TestParseDescriptionRealPrinters(t *testing.T) {
	tests := []struct {
		name        string
		file        string
		makeModel   string
		pdf, raster bool
		media       string
		rasterDPI   []int
		markerName  string
		markerLevel int
		markerLow   int
		message     string
		negotiated  Format
	}{
		{
			name: "kyocera", file: "Kyocera-ECOSYS-M2040dn-Printer-Attributes.ipp",
			makeModel: "ECOSYS M2040dn", pdf: true, raster: true, media: "iso_a4_210x297mm",
			rasterDPI: []int{600}, markerName: "Black TK-1170", markerLevel: 84, markerLow: 5,
			message: "Sleeping...", negotiated: Format{MIME: PDF},
		},
		{
			name: "xerox", file: "Xerox-B235-Printer-Attributes.ipp",
			makeModel: "Xerox(R) B235 MFP", pdf: false, raster: true, media: "iso_a4_210x297mm",
			rasterDPI: []int{300, 600}, markerName: "Black", markerLevel: 100, markerLow: 30,
			message:    "Printer is idle.",
			negotiated: Format{MIME: PWGRaster, Raster: RasterSpec{DPI: 300, Type: "black_8"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(needFixtures(t), tt.file))
			require.NoError(t, err)
			d, err := ParseDescription(data)
			require.NoError(t, err)
			assert.Equal(t, tt.makeModel, d.MakeAndModel)
			assert.Equal(t, StateIdle, d.State)
			assert.Empty(t, d.StateReasons, "none is dropped")
			assert.True(t, d.AcceptingJobs)
			assert.Equal(t, tt.pdf, d.Supports(PDF))
			assert.Equal(t, tt.raster, d.Supports(PWGRaster))
			assert.Contains(t, d.MediaReady, tt.media)
			assert.Equal(t, tt.rasterDPI, d.RasterResolution)
			assert.Equal(t, tt.message, d.StateMessage)
			require.NotEmpty(t, d.Markers)
			assert.Equal(t, tt.markerName, d.Markers[0].Name)
			assert.Equal(t, tt.markerLevel, d.Markers[0].Level)
			assert.Equal(t, tt.markerLow, d.Markers[0].Low)
			assert.NoError(t, d.Problem())

			f, err := Negotiate(d, Document{PDF: nopOpen, Raster: nopRaster})
			require.NoError(t, err)
			assert.Equal(t, tt.negotiated, f)
		})
	}
}

func TestParseDescriptionRejectsGarbage(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{name: "empty", data: nil},
		{name: "text", data: []byte("<html>not ipp</html>")},
		{name: "truncated header", data: []byte{2, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDescription(tt.data)
			assert.Error(t, err)
		})
	}
}

// FuzzParseDescription feeds mutated printer answers to the decoder: it must never panic, and
// whatever it decodes must be usable by Negotiate and Problem.
func FuzzParseDescription(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(peer.FixturesDir("ipp"), "*.ipp"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 1, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDescription(data)
		if err != nil {
			return
		}
		_ = d.Problem()
		_ = d.Reasons()
		_, _ = Negotiate(d, Document{PDF: nopOpen, Raster: nopRaster})
	})
}
