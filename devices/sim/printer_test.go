package sim

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/ipp"
)

func TestSimPrinter(t *testing.T) {
	pdf := []byte("%PDF-1.7 sim")
	doc := ipp.Document{Name: "Testseite", PDF: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(pdf)), nil }}
	tests := []struct {
		name    string
		reasons []string
		formats []string
		code    string
	}{
		{name: "prints pdf"},
		{name: "paper out", reasons: []string{"media-empty-error"}, code: "printer.media-empty"},
		{name: "raster only printer, pdf file", formats: []string{ipp.PWGRaster}, code: "printer.format-unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPrinter()
			p.PageTime = time.Millisecond
			p.SetReasons(tt.reasons...)
			if tt.formats != nil {
				p.Description.Formats = tt.formats
			}
			var states []ipp.JobState
			res, err := p.Print(t.Context(), doc, func(s ipp.JobStatus) { states = append(states, s.State) })
			if tt.code != "" {
				var de *devices.Error
				require.True(t, errors.As(err, &de), "got %v", err)
				assert.Equal(t, tt.code, de.Code)
				assert.Empty(t, p.Jobs())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, ipp.PDF, res.Format.MIME)
			assert.Equal(t, []ipp.JobState{ipp.JobProcessing, ipp.JobCompleted}, states)
			require.Len(t, p.Jobs(), 1)
			assert.Equal(t, pdf, p.Jobs()[0].Data)
		})
	}
}
