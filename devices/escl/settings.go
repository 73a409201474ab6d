package escl

import (
	"cmp"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Paper sizes in three-hundredths of an inch, the unit of eSCL scan regions.
const (
	A4Width  = 2480 // 210 mm
	A4Height = 3508 // 297 mm
)

// Settings of one scan job, in the device's units: what is POSTed to ScanJobs.
type Settings struct {
	Source     InputSource
	Duplex     bool
	ColorMode  ColorMode
	Resolution Resolution
	Width      int // 1/300 inch
	Height     int // 1/300 inch
	Format     string
	Intent     string
}

// Profile is what the caseworker chooses; Capabilities.Settings turns it into Settings the
// device supports. The zero value is the document default: flatbed, grey, 300 dpi, A4.
type Profile struct {
	Source InputSource // "" means Platen
	Duplex bool
	Color  bool // colour for photos; grey otherwise
	DPI    int  // 0 means 300
	Width  int  // 1/300 inch; 0 means A4
	Height int  // 1/300 inch; 0 means A4
}

// Settings picks the supported settings nearest to p for this scanner, within q's limits.
func (c *Capabilities) Settings(p Profile, q Quirks) (Settings, error) {
	src := cmp.Or(p.Source, Platen)
	in := c.Source(src, p.Duplex)
	if in == nil && src == Feeder && p.Duplex && c.ADFSimplex != nil {
		return Settings{}, newError(CodeNoDuplex, errors.New("scanner feeder is simplex only"))
	}
	if in == nil {
		return Settings{}, newError(CodeNoSource, fmt.Errorf("scanner has no %s source (duplex %v)", src, p.Duplex))
	}
	if !slices.Contains(in.Formats, "image/jpeg") {
		return Settings{}, newError(CodeUnsupported, fmt.Errorf("scanner %s source does not offer image/jpeg", src))
	}
	mode := Grayscale8
	if p.Color || !slices.Contains(in.ColorModes, Grayscale8) {
		mode = RGB24
	}
	if !slices.Contains(in.ColorModes, mode) {
		return Settings{}, newError(CodeUnsupported, fmt.Errorf("scanner %s source offers neither grey nor colour", src))
	}
	res := in.nearestResolutions(cmp.Or(p.DPI, 300), q.MaxResolution)
	if len(res) == 0 {
		return Settings{}, newError(CodeUnsupported, fmt.Errorf("scanner %s source lists no usable resolution", src))
	}
	intent := "Document"
	if p.Color {
		intent = "Photo"
	}
	if len(in.Intents) > 0 && !slices.Contains(in.Intents, intent) {
		intent = "" // not sent: the device picks its default rather than refusing the job
	}
	return Settings{
		Source:     src,
		Duplex:     p.Duplex && src == Feeder,
		ColorMode:  mode,
		Resolution: res[0],
		Width:      clamp(cmp.Or(p.Width, A4Width), in.MinWidth, in.MaxWidth),
		Height:     clamp(cmp.Or(p.Height, A4Height), in.MinHeight, in.MaxHeight),
		Format:     "image/jpeg",
		Intent:     intent,
	}, nil
}

// nearestResolutions lists square resolutions not above maxDPI (0: no limit) by distance from
// dpi; on a tie the higher one comes first (more legible).
func (c *InputCaps) nearestResolutions(dpi, maxDPI int) []Resolution {
	var out []Resolution
	for _, r := range c.Resolutions {
		if r.X == r.Y && (maxDPI == 0 || r.X <= maxDPI) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b Resolution) int {
		da, db := abs(a.X-dpi), abs(b.X-dpi)
		if da != db {
			return da - db
		}
		return b.X - a.X
	})
	return out
}

func clamp(v, lo, hi int) int {
	if hi > 0 && v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// xmlSettings is the ScanSettings document. Element names carry their prefixes literally, as
// devices expect; the namespaces are declared on the root.
type xmlSettings struct {
	XMLName   xml.Name `xml:"scan:ScanSettings"`
	XMLNSScan string   `xml:"xmlns:scan,attr"`
	XMLNSPWG  string   `xml:"xmlns:pwg,attr"`
	Version   string   `xml:"pwg:Version"`
	Intent    string   `xml:"scan:Intent,omitempty"`
	Units     string   `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:ContentRegionUnits"`
	XOffset   int      `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:XOffset"`
	YOffset   int      `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:YOffset"`
	Width     int      `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:Width"`
	Height    int      `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:Height"`
	Source    string   `xml:"pwg:InputSource"`
	Duplex    *bool    `xml:"scan:Duplex,omitempty"`
	ColorMode string   `xml:"scan:ColorMode"`
	XRes      int      `xml:"scan:XResolution"`
	YRes      int      `xml:"scan:YResolution"`
	Format    string   `xml:"pwg:DocumentFormat"`
	FormatExt string   `xml:"scan:DocumentFormatExt"`
}

// MarshalXML-free encoding: Settings.Document returns the ScanSettings XML.
func (s Settings) Document() []byte {
	x := xmlSettings{
		XMLNSScan: NSScan, XMLNSPWG: NSPWG, Version: "2.0", Intent: s.Intent,
		Units: "escl:ThreeHundredthsOfInches", Width: s.Width, Height: s.Height,
		Source: string(s.Source), ColorMode: string(s.ColorMode),
		XRes: s.Resolution.X, YRes: s.Resolution.Y, Format: s.Format, FormatExt: s.Format,
	}
	if s.Source == Feeder {
		d := s.Duplex
		x.Duplex = &d
	}
	b, err := xml.Marshal(x)
	if err != nil {
		panic(err) // fixed struct of strings and ints
	}
	return append([]byte(xml.Header), b...)
}

type xmlSettingsIn struct {
	XMLName   xml.Name
	Intent    string `xml:"Intent"`
	Width     int    `xml:"ScanRegions>ScanRegion>Width"`
	Height    int    `xml:"ScanRegions>ScanRegion>Height"`
	Source    string `xml:"InputSource"`
	Duplex    bool   `xml:"Duplex"`
	ColorMode string `xml:"ColorMode"`
	XRes      int    `xml:"XResolution"`
	YRes      int    `xml:"YResolution"`
	Format    string `xml:"DocumentFormat"`
	FormatExt string `xml:"DocumentFormatExt"`
}

// ParseSettings decodes a ScanSettings document (the device side of a ScanJobs POST).
func ParseSettings(r io.Reader) (Settings, error) {
	var x xmlSettingsIn
	if err := decode(r, "ScanSettings", &x); err != nil {
		return Settings{}, err
	}
	return Settings{
		Source: InputSource(x.Source), Duplex: x.Duplex, ColorMode: ColorMode(x.ColorMode),
		Resolution: Resolution{x.XRes, x.YRes}, Width: x.Width, Height: x.Height,
		Format: cmp.Or(x.FormatExt, x.Format), Intent: x.Intent,
	}, nil
}
