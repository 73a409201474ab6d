// Package escltest is an in-process eSCL scanner for tests, benchmarks and the training
// simulator: it answers with a real device's ScannerCapabilities, checks job settings against
// them, produces JPEG pages and can reproduce the misbehaviour known from real devices.
package escltest

import (
	"bytes"
	"cmp"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"koffer/devices/escl"
)

// Location selects how the server writes the Location of a new job.
type Location int

const (
	LocationAbsolute   Location = iota // http://<request host>/eSCL/ScanJobs/N
	LocationBrokenHost                 // http://0.0.0.0:1/eSCL/ScanJobs/N (host unusable)
	LocationRelative                   // ScanJobs/N (relative reference)
	LocationPathOnly                   // /eSCL/ScanJobs/N
)

// Behaviour is how the scanner misbehaves; the zero value is a well-behaved device.
type Behaviour struct {
	Busy503       int           // answer the first N requests of every endpoint with 503
	Location      Location      // how Location is written
	Reject        []int         // resolutions (dpi) refused with 409 although advertised
	EarlyNotFound int           // first N NextDocument of a job answer 404 before page 1
	MinPageGap    time.Duration // NextDocument sooner than this after job start or the previous page fails with 500
	ADFPages      int           // pages in the feeder per job (default 3)
	ADFEmpty      bool          // feeder empty: status says so, NextDocument 404, job aborted
	JamAfter      int           // ADF jams after this many pages (0: never)
	DropAfter     int           // connection dropped while sending page DropAfter+1 (0: never)
	Hang          bool          // NextDocument never answers
	BadPage       bool          // pages are not JPEG
	PageDelay     time.Duration // the device's own time to scan one page
	LastPageLost  bool          // the last page is counted in ImagesCompleted but never sent (firmware bug)
	// JobHost makes job requests (ScanJobs, NextDocument, DELETE) with another Host header
	// fail with 400. Capabilities answer any host: clients learn the quirk from them.
	JobHost string
}

// Server is an eSCL scanner as an http.Handler under /eSCL/.
type Server struct {
	caps   []byte
	parsed *escl.Capabilities
	b      Behaviour

	mu     sync.Mutex
	nextID int
	jobs   map[string]*job
	hits   map[string]int
	adfJam bool
	// Requests counts requests by "METHOD endpoint" for assertions.
	requests map[string]int
	posted   []escl.Settings
}

type job struct {
	id       string
	settings escl.Settings
	total    int
	sent     int
	state    string
	reason   string
	last     time.Time
	early    int
}

// New returns a server answering with the capabilities document caps.
func New(caps []byte, b Behaviour) (*Server, error) {
	parsed, err := escl.ParseCapabilities(bytes.NewReader(caps))
	if err != nil {
		return nil, fmt.Errorf("escltest: %w", err)
	}
	return &Server{
		caps: caps, parsed: parsed, b: b,
		jobs: map[string]*job{}, hits: map[string]int{}, requests: map[string]int{},
	}, nil
}

// Requests returns how often "METHOD endpoint" was asked (endpoint: ScannerCapabilities,
// ScannerStatus, ScanJobs, NextDocument, Job).
func (s *Server) Requests(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[key]
}

// Posted returns the settings of every ScanJobs POST, in order.
func (s *Server) Posted() []escl.Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posted)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/eSCL/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	endpoint := rest
	var id string
	if after, ok := strings.CutPrefix(rest, "ScanJobs/"); ok {
		id, endpoint = after, "Job"
		if jid, ok := strings.CutSuffix(after, "/NextDocument"); ok {
			id, endpoint = jid, "NextDocument"
		}
	}
	key := r.Method + " " + endpoint
	if s.b.JobHost != "" && endpoint != "ScannerCapabilities" && endpoint != "ScannerStatus" && r.Host != s.b.JobHost {
		http.Error(w, "bad host", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests[key]++
	s.hits[endpoint]++
	busy := s.hits[endpoint] <= s.b.Busy503
	s.mu.Unlock()
	if busy {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	switch key {
	case "GET ScannerCapabilities":
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(s.caps)
	case "GET ScannerStatus":
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(s.status())
	case "POST ScanJobs":
		s.startJob(w, r)
	case "GET NextDocument":
		s.nextDocument(w, r, id)
	case "DELETE Job":
		s.mu.Lock()
		j := s.jobs[id]
		if j != nil && j.state == "Processing" {
			j.state, j.reason = "Canceled", "JobCanceledByUser"
		}
		s.mu.Unlock()
		if j == nil {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func (s *Server) startJob(w http.ResponseWriter, r *http.Request) {
	set, err := escl.ParseSettings(http.MaxBytesReader(w, r.Body, escl.MaxXMLSize))
	if err != nil {
		http.Error(w, "bad settings", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posted = append(s.posted, set)
	in := s.parsed.Source(set.Source, set.Duplex)
	if in == nil || !in.Supports(set.ColorMode, set.Format, set.Resolution) || slices.Contains(s.b.Reject, set.Resolution.X) ||
		set.Width > in.MaxWidth || set.Height > in.MaxHeight || set.Width < in.MinWidth || set.Height < in.MinHeight {
		http.Error(w, "conflict", http.StatusConflict)
		return
	}
	s.nextID++
	j := &job{id: strconv.Itoa(s.nextID), settings: set, total: 1, state: "Processing", last: time.Now()}
	if set.Source == escl.Feeder {
		j.total = cmp.Or(s.b.ADFPages, 3)
		if s.b.ADFEmpty {
			j.total = 0
		}
	}
	s.jobs[j.id] = j
	var loc string
	switch s.b.Location {
	case LocationBrokenHost:
		loc = "http://0.0.0.0:1/eSCL/ScanJobs/" + j.id
	case LocationRelative:
		loc = "ScanJobs/" + j.id
	case LocationPathOnly:
		loc = "/eSCL/ScanJobs/" + j.id
	default:
		loc = "http://" + r.Host + "/eSCL/ScanJobs/" + j.id
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) nextDocument(w http.ResponseWriter, r *http.Request, id string) {
	if s.b.Hang {
		<-r.Context().Done()
		return
	}
	s.mu.Lock()
	j := s.jobs[id]
	if j == nil || j.state != "Processing" {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	if j.sent == 0 && j.early < s.b.EarlyNotFound {
		j.early++
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	if s.b.MinPageGap > 0 && time.Since(j.last) < s.b.MinPageGap {
		s.mu.Unlock()
		http.Error(w, "too early", http.StatusInternalServerError)
		return
	}
	if s.b.JamAfter > 0 && j.settings.Source == escl.Feeder && j.sent >= s.b.JamAfter {
		j.state, j.reason, s.adfJam = "Aborted", "JobFailed", true
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	if s.b.LastPageLost && j.total > 0 && j.sent == j.total-1 {
		j.sent = j.total
	}
	if j.sent >= j.total {
		if j.total == 0 {
			j.state, j.reason = "Aborted", "JobFailed"
		} else {
			j.state, j.reason = "Completed", "JobCompletedSuccessfully"
		}
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	drop := s.b.DropAfter > 0 && j.sent == s.b.DropAfter
	j.sent++
	page := s.page(j.settings)
	s.mu.Unlock()

	if s.b.PageDelay > 0 {
		time.Sleep(s.b.PageDelay)
	}
	w.Header().Set("Content-Type", "image/jpeg")
	if drop {
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		_, _ = w.Write(page[:len(page)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
			}
		}
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	_, _ = w.Write(page)
	s.mu.Lock()
	j.last = time.Now()
	s.mu.Unlock()
}

// page returns the JPEG of one page for set (made once per settings and cached: re-sending a
// page costs the server nothing, which keeps benchmarks about the client).
func (s *Server) page(set escl.Settings) []byte {
	if s.b.BadPage {
		return []byte("this is not a jpeg, the scanner's firmware sent garbage")
	}
	if p, ok := rendered.Load(set); ok {
		return p.([]byte)
	}
	p := RenderPage(set)
	rendered.Store(set, p)
	return p
}

// rendered caches pages across servers: tests start many servers with the same settings.
var rendered sync.Map // escl.Settings -> []byte

// RenderPage makes a JPEG of the scan region of set at its resolution: white with dark lines
// like text, grey or colour as asked.
func RenderPage(set escl.Settings) []byte {
	w := max(1, set.Width*set.Resolution.X/300)
	h := max(1, set.Height*set.Resolution.Y/300)
	ink := func(x, y int) bool {
		return (y/12)%3 == 0 && y > h/10 && y < h*9/10 && x > w/10 && x < w*9/10 && (x/40)%5 != 4
	}
	var img image.Image
	if set.ColorMode == escl.RGB24 {
		rgba := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			row := rgba.Pix[y*rgba.Stride:]
			for x := range w {
				c := color.RGBA{255, 255, 255, 255}
				if ink(x, y) {
					c = color.RGBA{20, 20, 120, 255}
				}
				row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = c.R, c.G, c.B, c.A
			}
		}
		img = rgba
	} else {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			row := g.Pix[y*g.Stride:]
			for x := range w {
				row[x] = 255
				if ink(x, y) {
					row[x] = 30
				}
			}
		}
		img = g
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75}); err != nil {
		panic(err) // in-memory encoder of a valid image
	}
	return buf.Bytes()
}

func (s *Server) status() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	state := "Idle"
	var jobs strings.Builder
	ids := make([]string, 0, len(s.jobs))
	for id := range s.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		j := s.jobs[id]
		if j.state == "Processing" {
			state = "Processing"
		}
		reason := cmp.Or(j.reason, "JobScanning")
		fmt.Fprintf(&jobs, "<scan:JobInfo><pwg:JobUri>/eSCL/ScanJobs/%s</pwg:JobUri><pwg:JobUuid>%s</pwg:JobUuid>"+
			"<pwg:ImagesCompleted>%d</pwg:ImagesCompleted><pwg:ImagesToTransfer>%d</pwg:ImagesToTransfer>"+
			"<pwg:JobState>%s</pwg:JobState><pwg:JobStateReasons><pwg:JobStateReason>%s</pwg:JobStateReason></pwg:JobStateReasons></scan:JobInfo>",
			j.id, j.id, j.sent, j.total-j.sent, j.state, reason)
	}
	adf := ""
	if s.parsed.ADFSimplex != nil {
		adf = "ScannerAdfLoaded"
		switch {
		case s.adfJam:
			adf = "ScannerAdfJam"
		case s.b.ADFEmpty:
			adf = "ScannerAdfEmpty"
		}
		adf = "<scan:AdfState>" + adf + "</scan:AdfState>"
	}
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?><scan:ScannerStatus xmlns:scan="%s" xmlns:pwg="%s">`+
		`<pwg:Version>2.63</pwg:Version><pwg:State>%s</pwg:State>%s<scan:Jobs>%s</scan:Jobs></scan:ScannerStatus>`,
		escl.NSScan, escl.NSPWG, state, adf, jobs.String())
}
