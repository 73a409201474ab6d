package escl

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits against hostile answers. Real capabilities are below 20 KiB and 12 levels deep.
const (
	maxXMLBytes = 1 << 20
	maxXMLDepth = 32
)

var (
	errTooLarge = errors.New("xml answer too large")
	errTooDeep  = errors.New("xml answer nested too deeply")
)

// readXML reads at most maxXMLBytes of r and checks the nesting depth before decoding: the
// decoder then walks a bounded document. Elements are matched by local name, so any namespace
// prefix (or none) is accepted.
func readXML(r io.Reader, v any) error {
	body, err := io.ReadAll(io.LimitReader(r, maxXMLBytes+1))
	if err != nil {
		return fmt.Errorf("read xml: %w", err)
	}
	if len(body) > maxXMLBytes {
		return errTooLarge
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("parse xml: %w", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxXMLDepth {
				return errTooDeep
			}
		case xml.EndElement:
			depth--
		}
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode xml: %w", err)
	}
	return nil
}

// Source is where the paper is: the glass or the document feeder.
type Source string

const (
	Flatbed   Source = "Platen"
	ADF       Source = "Feeder"
	ADFDuplex Source = "Duplex"
)

// ColorMode is an eSCL colour mode.
type ColorMode string

const (
	BlackAndWhite1 ColorMode = "BlackAndWhite1"
	Grayscale8     ColorMode = "Grayscale8"
	RGB24          ColorMode = "RGB24"
)

// Resolution is a pair of dots per inch.
type Resolution struct {
	X, Y int
}

// InputCaps is what one source can do. Sizes are in 300ths of an inch, as eSCL counts.
type InputCaps struct {
	MinWidth, MaxWidth, MinHeight, MaxHeight int
	ColorModes                               []ColorMode
	Resolutions                              []Resolution
	Formats                                  []string
}

// Capabilities are the typed ScannerCapabilities. A nil source is one the device lacks.
type Capabilities struct {
	Version        string
	MakeAndModel   string
	SerialNumber   string
	UUID           string
	Platen         *InputCaps
	ADFSimplex     *InputCaps
	ADFDuplex      *InputCaps
	FeederCapacity int
	ADFOptions     []string
}

// Source returns the caps of src, or nil.
func (c *Capabilities) Source(src Source) *InputCaps {
	switch src {
	case Flatbed:
		return c.Platen
	case ADF:
		return c.ADFSimplex
	case ADFDuplex:
		return c.ADFDuplex
	}
	return nil
}

// wire types: tags without namespace match by local name.
type xmlCaps struct {
	XMLName      xml.Name `xml:"ScannerCapabilities"`
	Version      string   `xml:"Version"`
	MakeAndModel string   `xml:"MakeAndModel"`
	SerialNumber string   `xml:"SerialNumber"`
	UUID         string   `xml:"UUID"`
	Platen       *struct {
		Caps *xmlInputCaps `xml:"PlatenInputCaps"`
	} `xml:"Platen"`
	Adf *struct {
		Simplex  *xmlInputCaps `xml:"AdfSimplexInputCaps"`
		Duplex   *xmlInputCaps `xml:"AdfDuplexInputCaps"`
		Capacity string        `xml:"FeederCapacity"`
		Options  []string      `xml:"AdfOptions>AdfOption"`
	} `xml:"Adf"`
}

type xmlInputCaps struct {
	MinWidth  string `xml:"MinWidth"`
	MaxWidth  string `xml:"MaxWidth"`
	MinHeight string `xml:"MinHeight"`
	MaxHeight string `xml:"MaxHeight"`
	Profiles  []struct {
		ColorModes  []string `xml:"ColorModes>ColorMode"`
		Formats     []string `xml:"DocumentFormats>DocumentFormat"`
		FormatsExt  []string `xml:"DocumentFormats>DocumentFormatExt"`
		Resolutions []struct {
			Discrete []struct {
				X string `xml:"XResolution"`
				Y string `xml:"YResolution"`
			} `xml:"DiscreteResolutions>DiscreteResolution"`
		} `xml:"SupportedResolutions"`
	} `xml:"SettingProfiles>SettingProfile"`
}

// ParseCapabilities decodes a ScannerCapabilities document.
func ParseCapabilities(r io.Reader) (*Capabilities, error) {
	var x xmlCaps
	if err := readXML(r, &x); err != nil {
		return nil, fmt.Errorf("scanner capabilities: %w", err)
	}
	c := &Capabilities{
		Version:      strings.TrimSpace(x.Version),
		MakeAndModel: strings.TrimSpace(x.MakeAndModel),
		SerialNumber: strings.TrimSpace(x.SerialNumber),
		UUID:         strings.TrimSpace(x.UUID),
	}
	var err error
	if x.Platen != nil && x.Platen.Caps != nil {
		if c.Platen, err = x.Platen.Caps.typed(); err != nil {
			return nil, fmt.Errorf("scanner capabilities: platen: %w", err)
		}
	}
	if x.Adf != nil {
		if x.Adf.Simplex != nil {
			if c.ADFSimplex, err = x.Adf.Simplex.typed(); err != nil {
				return nil, fmt.Errorf("scanner capabilities: adf: %w", err)
			}
		}
		if x.Adf.Duplex != nil {
			if c.ADFDuplex, err = x.Adf.Duplex.typed(); err != nil {
				return nil, fmt.Errorf("scanner capabilities: adf duplex: %w", err)
			}
		}
		if s := strings.TrimSpace(x.Adf.Capacity); s != "" {
			if c.FeederCapacity, err = atoi(s); err != nil {
				return nil, fmt.Errorf("scanner capabilities: feeder capacity: %w", err)
			}
		}
		for _, o := range x.Adf.Options {
			c.ADFOptions = append(c.ADFOptions, strings.TrimSpace(o))
		}
	}
	if c.Platen == nil && c.ADFSimplex == nil && c.ADFDuplex == nil {
		return nil, errors.New("scanner capabilities: no input source")
	}
	return c, nil
}

func atoi(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	if n < 0 || n > 1<<20 {
		return 0, fmt.Errorf("value %d out of range", n)
	}
	return n, nil
}

func (x *xmlInputCaps) typed() (*InputCaps, error) {
	c := &InputCaps{}
	for _, f := range []struct {
		dst *int
		s   string
	}{{&c.MinWidth, x.MinWidth}, {&c.MaxWidth, x.MaxWidth}, {&c.MinHeight, x.MinHeight}, {&c.MaxHeight, x.MaxHeight}} {
		if strings.TrimSpace(f.s) == "" {
			continue
		}
		n, err := atoi(f.s)
		if err != nil {
			return nil, err
		}
		*f.dst = n
	}
	seenMode := map[ColorMode]bool{}
	seenRes := map[Resolution]bool{}
	seenFmt := map[string]bool{}
	for _, p := range x.Profiles {
		for _, m := range p.ColorModes {
			m := ColorMode(strings.TrimSpace(m))
			if m != "" && !seenMode[m] {
				seenMode[m] = true
				c.ColorModes = append(c.ColorModes, m)
			}
		}
		for _, f := range append(p.Formats, p.FormatsExt...) {
			f = strings.TrimSpace(f)
			if f != "" && !seenFmt[f] {
				seenFmt[f] = true
				c.Formats = append(c.Formats, f)
			}
		}
		for _, sr := range p.Resolutions {
			for _, d := range sr.Discrete {
				xr, err := atoi(d.X)
				if err != nil {
					return nil, fmt.Errorf("resolution: %w", err)
				}
				yr, err := atoi(d.Y)
				if err != nil {
					return nil, fmt.Errorf("resolution: %w", err)
				}
				r := Resolution{xr, yr}
				if !seenRes[r] {
					seenRes[r] = true
					c.Resolutions = append(c.Resolutions, r)
				}
			}
		}
	}
	return c, nil
}

// HasMode reports whether m is supported.
func (c *InputCaps) HasMode(m ColorMode) bool {
	for _, x := range c.ColorModes {
		if x == m {
			return true
		}
	}
	return false
}

// HasFormat reports whether the MIME type f is supported.
func (c *InputCaps) HasFormat(f string) bool {
	for _, x := range c.Formats {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// NearestResolution returns the supported square resolution nearest to dpi (ties go up), or
// dpi itself when the device lists none.
func (c *InputCaps) NearestResolution(dpi int) int {
	best, bestD := 0, -1
	for _, r := range c.Resolutions {
		if r.X != r.Y {
			continue
		}
		d := r.X - dpi
		if d < 0 {
			d = -d
		}
		if bestD < 0 || d < bestD || (d == bestD && r.X > best) {
			best, bestD = r.X, d
		}
	}
	if bestD < 0 {
		return dpi
	}
	return best
}

// NearestMode returns m when supported, else the nearest: grey falls back to colour (then to
// black and white), colour to grey.
func (c *InputCaps) NearestMode(m ColorMode) ColorMode {
	if len(c.ColorModes) == 0 || c.HasMode(m) {
		return m
	}
	order := map[ColorMode][]ColorMode{
		Grayscale8:     {RGB24, BlackAndWhite1},
		RGB24:          {Grayscale8, BlackAndWhite1},
		BlackAndWhite1: {Grayscale8, RGB24},
	}[m]
	for _, o := range order {
		if c.HasMode(o) {
			return o
		}
	}
	return c.ColorModes[0]
}

// State is the scanner's pwg:State.
type State string

const (
	StateIdle       State = "Idle"
	StateProcessing State = "Processing"
	StateTesting    State = "Testing"
	StateStopped    State = "Stopped"
	StateDown       State = "Down"
)

// ADFState is the scan:AdfState, with its "Scanner" prefix removed ("AdfEmpty", "AdfJam"...).
type ADFState string

const (
	ADFUnknown    ADFState = ""
	ADFEmpty      ADFState = "AdfEmpty"
	ADFLoaded     ADFState = "AdfLoaded"
	ADFProcessing ADFState = "AdfProcessing"
	ADFJam        ADFState = "AdfJam"
	ADFHatchOpen  ADFState = "AdfHatchOpen"
	ADFMispick    ADFState = "AdfMispick"
)

// JobInfo is one job of the status.
type JobInfo struct {
	URI              string
	UUID             string
	State            string
	ImagesCompleted  int
	ImagesToTransfer int
	Reasons          []string
}

// Status is the typed ScannerStatus.
type Status struct {
	Version string
	State   State
	ADF     ADFState
	Jobs    []JobInfo
}

type xmlStatus struct {
	XMLName  xml.Name `xml:"ScannerStatus"`
	Version  string   `xml:"Version"`
	State    string   `xml:"State"`
	AdfState string   `xml:"AdfState"`
	Jobs     []struct {
		URI        string   `xml:"JobUri"`
		UUID       string   `xml:"JobUuid"`
		State      string   `xml:"JobState"`
		Completed  string   `xml:"ImagesCompleted"`
		ToTransfer string   `xml:"ImagesToTransfer"`
		Reasons    []string `xml:"JobStateReasons>JobStateReason"`
	} `xml:"Jobs>JobInfo"`
}

// ParseStatus decodes a ScannerStatus document.
func ParseStatus(r io.Reader) (*Status, error) {
	var x xmlStatus
	if err := readXML(r, &x); err != nil {
		return nil, fmt.Errorf("scanner status: %w", err)
	}
	s := &Status{
		Version: strings.TrimSpace(x.Version),
		State:   State(strings.TrimSpace(x.State)),
		ADF:     ADFState(strings.TrimPrefix(strings.TrimSpace(x.AdfState), "Scanner")),
	}
	if s.State == "" {
		return nil, errors.New("scanner status: no state")
	}
	for _, j := range x.Jobs {
		ji := JobInfo{URI: strings.TrimSpace(j.URI), UUID: strings.TrimSpace(j.UUID), State: strings.TrimSpace(j.State)}
		var err error
		if strings.TrimSpace(j.Completed) != "" {
			if ji.ImagesCompleted, err = atoi(j.Completed); err != nil {
				return nil, fmt.Errorf("scanner status: images completed: %w", err)
			}
		}
		if strings.TrimSpace(j.ToTransfer) != "" {
			if ji.ImagesToTransfer, err = atoi(j.ToTransfer); err != nil {
				return nil, fmt.Errorf("scanner status: images to transfer: %w", err)
			}
		}
		for _, r := range j.Reasons {
			ji.Reasons = append(ji.Reasons, strings.TrimSpace(r))
		}
		s.Jobs = append(s.Jobs, ji)
	}
	return s, nil
}
