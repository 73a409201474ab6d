package ipp

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
)

func nopOpen() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("%PDF-")), nil }

func nopRaster(RasterSpec) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("RaS2")), nil
}

func TestParseReason(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		keyword  string
		severity Severity
		code     string
		hint     string
	}{
		{name: "paper out", in: "media-empty-error", keyword: "media-empty", severity: SeverityError, code: "printer.media-empty", hint: "Papier einlegen"},
		{name: "paper needed no suffix", in: "media-needed", keyword: "media-needed", severity: SeverityError, code: "printer.media-empty", hint: "Papier einlegen"},
		{name: "toner low", in: "toner-low-report", keyword: "toner-low", severity: SeverityReport, code: "printer.toner-low", hint: "Kartusche"},
		{name: "low never blocks", in: "toner-low-error", keyword: "toner-low", severity: SeverityWarning, code: "printer.toner-low", hint: "Kartusche"},
		{name: "door open", in: "door-open-error", keyword: "door-open", severity: SeverityError, code: "printer.door-open", hint: "Klappen schließen"},
		{name: "cover open", in: "cover-open", keyword: "cover-open", severity: SeverityError, code: "printer.door-open", hint: "Klappen schließen"},
		{name: "jam", in: "media-jam-error", keyword: "media-jam", severity: SeverityError, code: "printer.media-jam", hint: "Papierstau"},
		{name: "offline", in: "offline-report", keyword: "offline", severity: SeverityReport, code: "printer.offline", hint: "einschalten"},
		{name: "unknown keyword", in: "fuser-over-temp-warning", keyword: "fuser-over-temp", severity: SeverityWarning, code: "printer.fuser-over-temp", hint: "Anzeige am Drucker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ParseReason(tt.in)
			assert.Equal(t, tt.keyword, r.Keyword)
			assert.Equal(t, tt.severity, r.Severity)
			assert.Equal(t, tt.code, r.Code)
			assert.Contains(t, r.Hint, tt.hint)
		})
	}
}

func TestProblem(t *testing.T) {
	tests := []struct {
		name string
		d    Description
		code string // empty: no problem
	}{
		{name: "idle", d: Description{State: StateIdle, AcceptingJobs: true}},
		{name: "toner low is no problem", d: Description{State: StateIdle, AcceptingJobs: true, StateReasons: []string{"toner-low-warning"}}},
		{name: "paper out", d: Description{State: StateIdle, AcceptingJobs: true, StateReasons: []string{"toner-low-warning", "media-empty-error"}}, code: "printer.media-empty"},
		{name: "stopped", d: Description{State: StateStopped, AcceptingJobs: true}, code: "printer.stopped"},
		{name: "not accepting", d: Description{State: StateIdle}, code: "printer.not-accepting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Problem()
			if tt.code == "" {
				assert.NoError(t, err)
				return
			}
			var de *devices.Error
			require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
			assert.Equal(t, tt.code, de.Code)
			assert.Equal(t, devices.Printer, de.Kind)
			assert.NotEmpty(t, de.Hint)
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name string
		d    Description
		doc  Document
		want Format
		code string
	}{
		{name: "pdf preferred", d: Description{Formats: []string{"image/pwg-raster", "application/pdf"}}, doc: Document{PDF: nopOpen, Raster: nopRaster}, want: Format{MIME: PDF}},
		{name: "raster when no pdf", d: Description{Formats: []string{"image/pwg-raster"}, RasterResolution: []int{150, 600}}, doc: Document{PDF: nopOpen, Raster: nopRaster}, want: Format{MIME: PWGRaster, Raster: RasterSpec{DPI: 600, Type: "sgray_8"}}},
		{name: "raster low dpi only", d: Description{Formats: []string{"image/pwg-raster"}, RasterResolution: []int{100, 200}, RasterTypes: []string{"sgray_8"}}, doc: Document{Raster: nopRaster}, want: Format{MIME: PWGRaster, Raster: RasterSpec{DPI: 200, Type: "sgray_8"}}},
		{name: "file pdf, printer raster only", d: Description{Formats: []string{"image/pwg-raster"}}, doc: Document{PDF: nopOpen}, code: "printer.format-unsupported"},
		{name: "raster without usable type", d: Description{Formats: []string{"image/pwg-raster"}, RasterTypes: []string{"black_1"}}, doc: Document{Raster: nopRaster}, code: "printer.format-unsupported"},
		{name: "pcl only", d: Description{Formats: []string{"application/vnd.hp-PCL"}}, doc: Document{PDF: nopOpen, Raster: nopRaster}, code: "printer.format-unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Negotiate(&tt.d, tt.doc)
			if tt.code != "" {
				var de *devices.Error
				require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
				assert.Equal(t, tt.code, de.Code)
				assert.Contains(t, de.Hint, "Drucker")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
