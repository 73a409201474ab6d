// Package escl drives document scanners over eSCL (AirScan) on any http.RoundTripper: it reads
// the typed ScannerCapabilities and ScannerStatus, starts scan jobs in the device's own units,
// fetches pages with NextDocument until the device says there are no more, and cancels jobs.
// Known device misbehaviour from the field is handled in the client and, per model, kept as
// data in quirks.toml.
package escl

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Namespaces of eSCL documents.
const (
	NSScan = "http://schemas.hp.com/imaging/escl/2011/05/03"
	NSPWG  = "http://www.pwg.org/schemas/2010/12/sm"
)

// Limits for documents read from a device: a scanner's XML answer is a few KiB; anything beyond
// these is hostile or broken and is refused before it is decoded.
const (
	MaxXMLSize  = 1 << 20
	MaxXMLDepth = 32
)

// ColorMode is an eSCL colour mode as the device names it.
type ColorMode string

const (
	BlackAndWhite1 ColorMode = "BlackAndWhite1"
	Grayscale8     ColorMode = "Grayscale8"
	RGB24          ColorMode = "RGB24"
)

// InputSource is where paper is scanned from.
type InputSource string

const (
	Platen InputSource = "Platen"
	Feeder InputSource = "Feeder"
)

// Resolution in dots per inch.
type Resolution struct{ X, Y int }

// InputCaps are the capabilities of one input source (platen, ADF simplex or ADF duplex).
// Sizes are in the device's unit, three-hundredths of an inch.
type InputCaps struct {
	MinWidth, MaxWidth   int
	MinHeight, MaxHeight int
	ColorModes           []ColorMode
	Formats              []string
	Resolutions          []Resolution // discrete resolutions, ascending by X then Y
	Intents              []string
	MaxOpticalX          int
	MaxOpticalY          int
}

// Supports reports whether the source accepts the colour mode, format and resolution.
func (c *InputCaps) Supports(m ColorMode, format string, r Resolution) bool {
	return slices.Contains(c.ColorModes, m) && slices.Contains(c.Formats, format) && slices.Contains(c.Resolutions, r)
}

// Capabilities is a decoded ScannerCapabilities document. A nil source is absent.
type Capabilities struct {
	Version        string
	MakeAndModel   string
	SerialNumber   string
	UUID           string
	Manufacturer   string
	Platen         *InputCaps
	ADFSimplex     *InputCaps
	ADFDuplex      *InputCaps
	FeederCapacity int
	ADFOptions     []string
}

// Source returns the capabilities of src (duplex only for the feeder), or nil.
func (c *Capabilities) Source(src InputSource, duplex bool) *InputCaps {
	switch {
	case src == Platen:
		return c.Platen
	case src == Feeder && duplex:
		return c.ADFDuplex
	case src == Feeder:
		return c.ADFSimplex
	}
	return nil
}

// State is the scanner's pwg:State.
type State string

const (
	Idle       State = "Idle"
	Processing State = "Processing"
	Testing    State = "Testing"
	Stopped    State = "Stopped"
	Down       State = "Down"
)

// ADFState is the scan:AdfState of a scanner with a feeder.
type ADFState string

const (
	ADFProcessing ADFState = "ScannerAdfProcessing"
	ADFEmpty      ADFState = "ScannerAdfEmpty"
	ADFJam        ADFState = "ScannerAdfJam"
	ADFLoaded     ADFState = "ScannerAdfLoaded"
	ADFMispick    ADFState = "ScannerAdfMispick"
	ADFHatchOpen  ADFState = "ScannerAdfHatchOpen"
	ADFDuplexJam  ADFState = "ScannerAdfDuplexPageTooShort"
	ADFMultiFeed  ADFState = "ScannerAdfMultipickDetected"
	ADFInputTray  ADFState = "ScannerAdfInputTrayFailed"
	ADFPageLong   ADFState = "ScannerAdfDuplexPageTooLong"
)

// JobInfo is one job in a ScannerStatus.
type JobInfo struct {
	URI              string
	UUID             string
	State            string // Pending, Processing, Completed, Canceled, Aborted
	Reasons          []string
	ImagesCompleted  int
	ImagesToTransfer int
}

// Status is a decoded ScannerStatus document.
type Status struct {
	Version  string
	State    State
	ADFState ADFState
	Jobs     []JobInfo
}

// Job returns the job whose URI path equals path, or nil. Devices write JobUri as a path or
// as a full URL; only the path is compared.
func (s *Status) Job(path string) *JobInfo {
	for i := range s.Jobs {
		if uriPath(s.Jobs[i].URI) == uriPath(path) {
			return &s.Jobs[i]
		}
	}
	return nil
}

func uriPath(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			u = rest[j:]
		} else {
			u = "/"
		}
	}
	return strings.TrimSuffix(u, "/")
}

// Wire shapes. Tags carry local names only: real devices mix namespaces on leaf elements
// (the Xerox B235 puts Min/Max without one), so only the root element's namespace is checked.
type xmlResolution struct {
	X int `xml:"XResolution"`
	Y int `xml:"YResolution"`
}

type xmlInputCaps struct {
	MinWidth    int `xml:"MinWidth"`
	MaxWidth    int `xml:"MaxWidth"`
	MinHeight   int `xml:"MinHeight"`
	MaxHeight   int `xml:"MaxHeight"`
	MaxOpticalX int `xml:"MaxOpticalXResolution"`
	MaxOpticalY int `xml:"MaxOpticalYResolution"`
	Profiles    []struct {
		ColorModes  []string `xml:"ColorModes>ColorMode"`
		Formats     []string `xml:"DocumentFormats>DocumentFormat"`
		FormatsExt  []string `xml:"DocumentFormats>DocumentFormatExt"`
		Resolutions []struct {
			Discrete []xmlResolution `xml:"DiscreteResolutions>DiscreteResolution"`
		} `xml:"SupportedResolutions"`
	} `xml:"SettingProfiles>SettingProfile"`
	Intents          []string `xml:"SupportedIntents>Intent"`
	SupportedIntents []string `xml:"SupportedIntents>SupportedIntent"`
}

type xmlCapabilities struct {
	XMLName        xml.Name
	Version        string        `xml:"Version"`
	MakeAndModel   string        `xml:"MakeAndModel"`
	SerialNumber   string        `xml:"SerialNumber"`
	UUID           string        `xml:"UUID"`
	Manufacturer   string        `xml:"Manufacturer"`
	Platen         *xmlInputCaps `xml:"Platen>PlatenInputCaps"`
	ADFSimplex     *xmlInputCaps `xml:"Adf>AdfSimplexInputCaps"`
	ADFDuplex      *xmlInputCaps `xml:"Adf>AdfDuplexInputCaps"`
	FeederCapacity int           `xml:"Adf>FeederCapacity"`
	ADFOptions     []string      `xml:"Adf>AdfOptions>AdfOption"`
}

type xmlStatus struct {
	XMLName  xml.Name
	Version  string `xml:"Version"`
	State    string `xml:"State"`
	ADFState string `xml:"AdfState"`
	Jobs     []struct {
		URI              string   `xml:"JobUri"`
		UUID             string   `xml:"JobUuid"`
		State            string   `xml:"JobState"`
		Reasons          []string `xml:"JobStateReasons>JobStateReason"`
		ImagesCompleted  int      `xml:"ImagesCompleted"`
		ImagesToTransfer int      `xml:"ImagesToTransfer"`
	} `xml:"Jobs>JobInfo"`
}

// ErrMalformed marks a device answer that is not a well-formed eSCL document within limits.
var ErrMalformed = errors.New("malformed escl document")

// ParseCapabilities decodes a ScannerCapabilities document read from r.
func ParseCapabilities(r io.Reader) (*Capabilities, error) {
	var x xmlCapabilities
	if err := decode(r, "ScannerCapabilities", &x); err != nil {
		return nil, err
	}
	c := &Capabilities{
		Version:        strings.TrimSpace(x.Version),
		MakeAndModel:   strings.TrimSpace(x.MakeAndModel),
		SerialNumber:   strings.TrimSpace(x.SerialNumber),
		UUID:           strings.TrimSpace(x.UUID),
		Manufacturer:   strings.TrimSpace(x.Manufacturer),
		Platen:         x.Platen.typed(),
		ADFSimplex:     x.ADFSimplex.typed(),
		ADFDuplex:      x.ADFDuplex.typed(),
		FeederCapacity: x.FeederCapacity,
		ADFOptions:     trimAll(x.ADFOptions),
	}
	if c.Platen == nil && c.ADFSimplex == nil && c.ADFDuplex == nil {
		return nil, fmt.Errorf("%w: neither platen nor feeder", ErrMalformed)
	}
	return c, nil
}

func (x *xmlInputCaps) typed() *InputCaps {
	if x == nil {
		return nil
	}
	c := &InputCaps{
		MinWidth: x.MinWidth, MaxWidth: x.MaxWidth, MinHeight: x.MinHeight, MaxHeight: x.MaxHeight,
		MaxOpticalX: x.MaxOpticalX, MaxOpticalY: x.MaxOpticalY,
	}
	for _, p := range x.Profiles {
		for _, m := range p.ColorModes {
			c.ColorModes = appendNew(c.ColorModes, ColorMode(strings.TrimSpace(m)))
		}
		for _, f := range slices.Concat(p.Formats, p.FormatsExt) {
			c.Formats = appendNew(c.Formats, strings.TrimSpace(f))
		}
		for _, rs := range p.Resolutions {
			for _, r := range rs.Discrete {
				if r.X > 0 && r.Y > 0 {
					c.Resolutions = appendNew(c.Resolutions, Resolution{r.X, r.Y})
				}
			}
		}
	}
	slices.SortFunc(c.Resolutions, func(a, b Resolution) int {
		if a.X != b.X {
			return a.X - b.X
		}
		return a.Y - b.Y
	})
	for _, i := range slices.Concat(x.Intents, x.SupportedIntents) {
		c.Intents = appendNew(c.Intents, strings.TrimSpace(i))
	}
	return c
}

// ParseStatus decodes a ScannerStatus document read from r.
func ParseStatus(r io.Reader) (*Status, error) {
	var x xmlStatus
	if err := decode(r, "ScannerStatus", &x); err != nil {
		return nil, err
	}
	s := &Status{
		Version:  strings.TrimSpace(x.Version),
		State:    State(strings.TrimSpace(x.State)),
		ADFState: ADFState(strings.TrimSpace(x.ADFState)),
	}
	if s.State == "" {
		return nil, fmt.Errorf("%w: status without state", ErrMalformed)
	}
	for _, j := range x.Jobs {
		s.Jobs = append(s.Jobs, JobInfo{
			URI: strings.TrimSpace(j.URI), UUID: strings.TrimSpace(j.UUID), State: strings.TrimSpace(j.State),
			Reasons: trimAll(j.Reasons), ImagesCompleted: j.ImagesCompleted, ImagesToTransfer: j.ImagesToTransfer,
		})
	}
	return s, nil
}

// decode reads at most MaxXMLSize bytes, checks nesting depth and the root element (local name
// root in the eSCL namespace), then unmarshals into v.
func decode(r io.Reader, root string, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxXMLSize+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", root, err)
	}
	if len(data) > MaxXMLSize {
		return fmt.Errorf("%w: %s larger than %d bytes", ErrMalformed, root, MaxXMLSize)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	depth, seenRoot := 0, false
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, root, err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth > MaxXMLDepth {
				return fmt.Errorf("%w: %s nested deeper than %d", ErrMalformed, root, MaxXMLDepth)
			}
			if depth == 1 {
				seenRoot = true
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return fmt.Errorf("%w: %s carries a DTD", ErrMalformed, root)
		}
	}
	if !seenRoot {
		return fmt.Errorf("%w: %s: empty document", ErrMalformed, root)
	}
	var name struct{ XMLName xml.Name }
	if err := xml.Unmarshal(data, &name); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, root, err)
	}
	if name.XMLName.Local != root || name.XMLName.Space != NSScan {
		return fmt.Errorf("%w: root is {%s}%s, want {%s}%s", ErrMalformed, name.XMLName.Space, name.XMLName.Local, NSScan, root)
	}
	if err := xml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, root, err)
	}
	return nil
}

func appendNew[T comparable](s []T, v T) []T {
	var zero T
	if v == zero || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func trimAll(s []string) []string {
	var out []string
	for _, v := range s {
		out = appendNew(out, strings.TrimSpace(v))
	}
	return out
}
