package ipp

import (
	"fmt"
	"slices"
	"strings"

	"github.com/OpenPrinting/goipp"
)

// State is printer-state (RFC 8011 5.4.11).
type State int

const (
	StateUnknown    State = 0
	StateIdle       State = 3
	StateProcessing State = 4
	StateStopped    State = 5
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateProcessing:
		return "processing"
	case StateStopped:
		return "stopped"
	}
	return "unknown"
}

// Marker is one toner or ink supply as the printer reports it (marker-* attributes).
// Level is a percentage, -1 when unknown, -2 when unknown but not empty, -3 when "some".
type Marker struct {
	Name  string
	Type  string
	Color string
	Level int
	Low   int
	High  int
}

// Description is what a printer says about itself in answer to Get-Printer-Attributes.
type Description struct {
	Name             string
	MakeAndModel     string
	Info             string
	Location         string
	UUID             string
	URIs             []string
	State            State
	StateReasons     []string // as sent, including -report/-warning/-error suffixes; "none" dropped
	StateMessage     string
	AcceptingJobs    bool
	Formats          []string // document-format-supported
	MediaReady       []string // media-ready (PWG self-describing names such as iso_a4_210x297mm)
	MediaDefault     string
	Markers          []Marker
	RasterResolution []int    // pwg-raster-document-resolution-supported, dots per inch (square ones only)
	RasterTypes      []string // pwg-raster-document-type-supported
	Color            bool
}

// Supports reports whether the printer lists the MIME type in document-format-supported.
func (d *Description) Supports(mime string) bool {
	return slices.ContainsFunc(d.Formats, func(f string) bool { return strings.EqualFold(f, mime) })
}

// ParseDescription decodes a binary Get-Printer-Attributes response.
func ParseDescription(data []byte) (*Description, error) {
	var m goipp.Message
	if err := m.DecodeBytes(data); err != nil {
		return nil, fmt.Errorf("decode printer attributes: %w", err)
	}
	return DecodeDescription(&m), nil
}

// DecodeDescription reads the printer group of a Get-Printer-Attributes response. Attributes
// that are missing or of an unexpected type are left at their zero value: printers differ.
func DecodeDescription(m *goipp.Message) *Description {
	d := &Description{AcceptingJobs: true} // absent means accepting (RFC 8011 requires it; some printers omit it)
	var markerNames, markerTypes, markerColors []string
	var markerLevels, markerLow, markerHigh []int
	for _, a := range m.Printer {
		switch a.Name {
		case "printer-name":
			d.Name = firstString(a.Values)
		case "printer-make-and-model":
			d.MakeAndModel = firstString(a.Values)
		case "printer-info":
			d.Info = firstString(a.Values)
		case "printer-location":
			d.Location = firstString(a.Values)
		case "printer-uuid":
			d.UUID = firstString(a.Values)
		case "printer-uri-supported":
			d.URIs = stringValues(a.Values)
		case "printer-state":
			if n, ok := firstInt(a.Values); ok {
				d.State = State(n)
			}
		case "printer-state-reasons":
			for _, r := range stringValues(a.Values) {
				if r != "" && r != "none" {
					d.StateReasons = append(d.StateReasons, r)
				}
			}
		case "printer-state-message":
			d.StateMessage = strings.TrimSpace(firstString(a.Values))
		case "printer-is-accepting-jobs":
			if len(a.Values) > 0 {
				if b, ok := a.Values[0].V.(goipp.Boolean); ok {
					d.AcceptingJobs = bool(b)
				}
			}
		case "document-format-supported":
			d.Formats = stringValues(a.Values)
		case "media-ready":
			d.MediaReady = stringValues(a.Values)
		case "media-default":
			d.MediaDefault = firstString(a.Values)
		case "color-supported":
			if len(a.Values) > 0 {
				if b, ok := a.Values[0].V.(goipp.Boolean); ok {
					d.Color = bool(b)
				}
			}
		case "pwg-raster-document-resolution-supported":
			for _, v := range a.Values {
				r, ok := v.V.(goipp.Resolution)
				if !ok || r.Xres != r.Yres || r.Xres <= 0 {
					continue
				}
				dpi := r.Xres
				if r.Units == goipp.UnitsDpcm {
					dpi = (r.Xres*254 + 50) / 100
				}
				d.RasterResolution = append(d.RasterResolution, dpi)
			}
		case "pwg-raster-document-type-supported":
			d.RasterTypes = stringValues(a.Values)
		case "marker-names":
			markerNames = stringValues(a.Values)
		case "marker-types":
			markerTypes = stringValues(a.Values)
		case "marker-colors":
			markerColors = stringValues(a.Values)
		case "marker-levels":
			markerLevels = intValues(a.Values)
		case "marker-low-levels":
			markerLow = intValues(a.Values)
		case "marker-high-levels":
			markerHigh = intValues(a.Values)
		}
	}
	for i, name := range markerNames {
		d.Markers = append(d.Markers, Marker{
			Name:  name,
			Type:  at(markerTypes, i, ""),
			Color: at(markerColors, i, ""),
			Level: at(markerLevels, i, -1),
			Low:   at(markerLow, i, -1),
			High:  at(markerHigh, i, -1),
		})
	}
	return d
}

func at[T any](s []T, i int, def T) T {
	if i < len(s) {
		return s[i]
	}
	return def
}

func firstString(vs goipp.Values) string {
	if len(vs) == 0 {
		return ""
	}
	return valueString(vs[0].V)
}

func valueString(v goipp.Value) string {
	switch x := v.(type) {
	case goipp.String:
		return string(x)
	case goipp.TextWithLang:
		return x.Text
	case nil:
		return ""
	}
	return ""
}

func stringValues(vs goipp.Values) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if s := valueString(v.V); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func firstInt(vs goipp.Values) (int, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	n, ok := vs[0].V.(goipp.Integer)
	return int(n), ok
}

func intValues(vs goipp.Values) []int {
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		if n, ok := v.V.(goipp.Integer); ok {
			out = append(out, int(n))
		} else {
			out = append(out, -1)
		}
	}
	return out
}
