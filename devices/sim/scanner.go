package sim

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ScannerURL is the eSCL root of the simulated scanner; its requests never leave the process.
const ScannerURL = "http://sim-scanner.invalid/eSCL"

// ScannerOptions tune the simulated scanner. The zero value has an empty feeder and answers
// at once.
type ScannerOptions struct {
	// ADFPages is how many sheets lie in the feeder.
	ADFPages int
	// PageDelay is how long each page takes to scan.
	PageDelay time.Duration
}

// Scanner is a simulated eSCL scanner for training mode and demos, served in memory as an
// http.RoundTripper: the real eSCL client drives it unchanged. It has a flatbed and a feeder,
// grey and colour, 75 to 300 dpi, and draws lines of "text" on A4 pages. It is chosen
// explicitly, never used in place of a missing real scanner.
type Scanner struct {
	opts ScannerOptions

	mu     sync.Mutex
	feeder int
	nextID int
	jobs   map[string]*simJob
}

type simJob struct {
	flatbed bool
	colour  bool
	dpi     int
	served  int
	done    bool
}

var _ http.RoundTripper = (*Scanner)(nil)

// NewScanner returns a simulated scanner.
func NewScanner(opts ScannerOptions) *Scanner {
	return &Scanner{opts: opts, feeder: opts.ADFPages, jobs: map[string]*simJob{}}
}

const simCaps = `<?xml version="1.0" encoding="UTF-8"?>
<scan:ScannerCapabilities xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm">
<pwg:Version>2.6</pwg:Version><pwg:MakeAndModel>koffer Trainingsscanner</pwg:MakeAndModel>
<scan:Platen><scan:PlatenInputCaps>%[1]s</scan:PlatenInputCaps></scan:Platen>
<scan:Adf><scan:AdfSimplexInputCaps>%[1]s</scan:AdfSimplexInputCaps><scan:FeederCapacity>50</scan:FeederCapacity></scan:Adf>
</scan:ScannerCapabilities>`

const simInputCaps = `<scan:MinWidth>300</scan:MinWidth><scan:MaxWidth>2550</scan:MaxWidth><scan:MinHeight>300</scan:MinHeight><scan:MaxHeight>3508</scan:MaxHeight>
<scan:SettingProfiles><scan:SettingProfile><scan:ColorModes><scan:ColorMode>Grayscale8</scan:ColorMode><scan:ColorMode>RGB24</scan:ColorMode></scan:ColorModes>
<scan:DocumentFormats><pwg:DocumentFormat>image/jpeg</pwg:DocumentFormat></scan:DocumentFormats>
<scan:SupportedResolutions><scan:DiscreteResolutions>
<scan:DiscreteResolution><scan:XResolution>75</scan:XResolution><scan:YResolution>75</scan:YResolution></scan:DiscreteResolution>
<scan:DiscreteResolution><scan:XResolution>150</scan:XResolution><scan:YResolution>150</scan:YResolution></scan:DiscreteResolution>
<scan:DiscreteResolution><scan:XResolution>300</scan:XResolution><scan:YResolution>300</scan:YResolution></scan:DiscreteResolution>
</scan:DiscreteResolutions></scan:SupportedResolutions></scan:SettingProfile></scan:SettingProfiles>`

// RoundTrip answers one eSCL request in memory.
func (s *Scanner) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	code, hdr, body := s.serve(req)
	if hdr == nil {
		hdr = http.Header{}
	}
	return &http.Response{
		StatusCode: code, Status: strconv.Itoa(code) + " " + http.StatusText(code),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}, nil
}

func (s *Scanner) serve(req *http.Request) (int, http.Header, []byte) {
	p := strings.TrimPrefix(req.URL.Path, "/eSCL")
	xmlHdr := http.Header{"Content-Type": {"text/xml"}}
	switch {
	case p == "/ScannerCapabilities" && req.Method == http.MethodGet:
		return http.StatusOK, xmlHdr, fmt.Appendf(nil, simCaps, simInputCaps)
	case p == "/ScannerStatus" && req.Method == http.MethodGet:
		s.mu.Lock()
		state, adf := "Idle", "ScannerAdfEmpty"
		for _, j := range s.jobs {
			if !j.done {
				state = "Processing"
			}
		}
		if s.feeder > 0 {
			adf = "ScannerAdfLoaded"
		}
		s.mu.Unlock()
		return http.StatusOK, xmlHdr, fmt.Appendf(nil, `<?xml version="1.0"?><scan:ScannerStatus xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm"><pwg:State>%s</pwg:State><scan:AdfState>%s</scan:AdfState></scan:ScannerStatus>`, state, adf)
	case p == "/ScanJobs" && req.Method == http.MethodPost:
		return s.post(req)
	case strings.HasPrefix(p, "/ScanJobs/") && strings.HasSuffix(p, "/NextDocument") && req.Method == http.MethodGet:
		return s.next(req.Context(), strings.TrimSuffix(strings.TrimPrefix(p, "/ScanJobs/"), "/NextDocument"))
	case strings.HasPrefix(p, "/ScanJobs/") && req.Method == http.MethodDelete:
		s.mu.Lock()
		defer s.mu.Unlock()
		if j := s.jobs[strings.TrimPrefix(p, "/ScanJobs/")]; j != nil {
			j.done = true
			return http.StatusOK, nil, nil
		}
	}
	return http.StatusNotFound, nil, nil
}

func (s *Scanner) post(req *http.Request) (int, http.Header, []byte) {
	var ss struct {
		Source    string `xml:"InputSource"`
		ColorMode string `xml:"ColorMode"`
		XRes      int    `xml:"XResolution"`
	}
	if req.Body == nil || xml.NewDecoder(io.LimitReader(req.Body, 64<<10)).Decode(&ss) != nil {
		return http.StatusBadRequest, nil, nil
	}
	if ss.XRes != 75 && ss.XRes != 150 && ss.XRes != 300 || ss.ColorMode != "Grayscale8" && ss.ColorMode != "RGB24" {
		return http.StatusConflict, nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	flatbed := ss.Source != "Feeder"
	if !flatbed && s.feeder == 0 {
		return http.StatusConflict, nil, nil
	}
	s.nextID++
	id := strconv.Itoa(s.nextID)
	s.jobs[id] = &simJob{flatbed: flatbed, colour: ss.ColorMode == "RGB24", dpi: ss.XRes}
	return http.StatusCreated, http.Header{"Location": {ScannerURL + "/ScanJobs/" + id}}, nil
}

func (s *Scanner) next(ctx context.Context, id string) (int, http.Header, []byte) {
	s.mu.Lock()
	j := s.jobs[id]
	if j == nil || j.done || (j.flatbed && j.served > 0) || (!j.flatbed && s.feeder == 0) {
		if j != nil {
			j.done = true
		}
		s.mu.Unlock()
		return http.StatusNotFound, nil, nil
	}
	j.served++
	if !j.flatbed {
		s.feeder--
	}
	n, colour, dpi := j.served, j.colour, j.dpi
	s.mu.Unlock()
	if s.opts.PageDelay > 0 {
		t := time.NewTimer(s.opts.PageDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return http.StatusServiceUnavailable, nil, nil
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, simPage(2480*dpi/300, 3508*dpi/300, colour, n), &jpeg.Options{Quality: 80}); err != nil {
		return http.StatusInternalServerError, nil, nil
	}
	return http.StatusOK, http.Header{"Content-Type": {"image/jpeg"}}, b.Bytes()
}

// simPage draws paragraphs of grey bars, shifted by the page number so pages differ.
func simPage(w, h int, colour bool, n int) image.Image {
	paper, ink := color.RGBA{250, 250, 246, 255}, color.RGBA{30, 30, 30, 255}
	if colour {
		ink = color.RGBA{20, 60, 140, 255}
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	lh := max(h/60, 4)
	for y := 0; y < h; y++ {
		line := y / lh
		for x := 0; x < w; x++ {
			c := paper
			if y%lh > lh*2/3 && x > w/8 && x < w-w/8-(line*31+n*17)%(w/4+1) && line%6 != 5 && line > 3 {
				c = ink
			}
			img.SetRGBA(x, y, c)
		}
	}
	if !colour {
		g := image.NewGray(img.Rect)
		for i := range g.Pix {
			g.Pix[i] = img.Pix[i*4]
		}
		return g
	}
	return img
}
