// Package escltest is an in-process eSCL scanner for tests: it answers with the real
// capabilities of a recorded device, renders real JPEG pages with the standard library, and
// reproduces the device behaviour the client must survive (503 then 200, broken or relative
// Location, 409 for unsupported settings, 404 right after the job starts, an ADF of N pages,
// a jam or an unplugged cable mid-feeder, a page that is not a JPEG, a job that never ends).
package escltest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"koffer/devices/escl"
	"koffer/devices/peer"
)

// Location modes for the Location header of a created job.
const (
	LocationAbsolute   = ""            // http://host/eSCL/ScanJobs/N, correct
	LocationBrokenHost = "broken-host" // a host that does not answer
	LocationRelative   = "relative"    // /eSCL/ScanJobs/N without scheme and host
)

// Options choose the device and its quirks. The zero value (plus Capabilities) is a
// well-behaved scanner with an empty feeder.
type Options struct {
	// Capabilities is the ScannerCapabilities document served (a fixture).
	Capabilities []byte
	// ADFPages is how many sheets lie in the feeder.
	ADFPages int
	// Busy answers 503 to the first Busy POST ScanJobs and the first Busy NextDocument of a job.
	Busy int
	// Location selects how the job's Location is written.
	Location string
	// Strict answers 409 to settings whose resolution or colour mode the capabilities lack.
	Strict bool
	// NotFoundAtStart answers 404 to the first NotFoundAtStart NextDocument of a job.
	NotFoundAtStart int
	// JamAfter > 0 jams the feeder after that many pages: the job ends, status says AdfJam.
	JamAfter int
	// DropAfter > 0 closes the connection instead of sending page DropAfter+1 (unplugged).
	DropAfter int
	// BadPage > 0 sends bytes that are not a JPEG as that page.
	BadPage int
	// Hang makes NextDocument never answer (until the client gives up).
	Hang bool
	// PageDelay is the simulated mechanical time per page, counted in the server's time.
	PageDelay time.Duration
	// UUIDJobs names jobs like the Kyocera does ("urn:uuid:..."), colons in the path.
	UUIDJobs bool
	// Prerender renders the first page once and sends its bytes for every later page, so
	// that allocation figures show the client's share, not the server's rendering.
	Prerender bool
}

// Server is a running test scanner.
type Server struct {
	*httptest.Server
	opts Options
	caps *escl.Capabilities

	mu         sync.Mutex
	nextID     int
	jobs       map[string]*job
	feeder     int
	jammed     bool
	busyPosts  int
	counts     map[string]int
	serverTime time.Duration
	page       []byte // prerendered
}

type job struct {
	settings scanSettings
	served   int
	busy     int
	notFound int
	done     bool
}

// New starts a server with opts and closes it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	caps, err := escl.ParseCapabilities(bytes.NewReader(opts.Capabilities))
	require.NoError(t, err, "escltest: capabilities")
	s := &Server{opts: opts, caps: caps, jobs: map[string]*job{}, feeder: opts.ADFPages, counts: map[string]int{}}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// Load puts n more sheets into the feeder and clears a jam.
func (s *Server) Load(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feeder += n
	s.jammed = false
}

// BaseURL is the eSCL root to give the client.
func (s *Server) BaseURL() string { return s.URL + "/eSCL" }

// Count returns how often an event happened: "503", "409", "404-start", "delete", "page".
func (s *Server) Count(event string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[event]
}

// ServerTime is the time the server spent producing and sending pages (its own work).
func (s *Server) ServerTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serverTime
}

// Fixture returns a file of the shared eSCL fixtures (from $KOFFER_FIXTURES or a folder
// shared/fixtures above the working directory). It skips, or fails where peers are required.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	var roots []string
	if env := os.Getenv("KOFFER_FIXTURES"); env != "" {
		roots = append(roots, env)
	}
	dir, err := os.Getwd()
	require.NoError(t, err)
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		roots = append(roots, filepath.Join(dir, "shared", "fixtures"))
	}
	for _, r := range roots {
		b, err := os.ReadFile(filepath.Join(r, "escl", name))
		if err == nil {
			return b
		}
	}
	peer.Missing(t, "shared fixture escl/"+name+" not found (set KOFFER_FIXTURES)")
	return nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/eSCL")
	switch {
	case p == "/ScannerCapabilities" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/xml")
		w.Write(s.opts.Capabilities)
	case p == "/ScannerStatus" && r.Method == http.MethodGet:
		s.status(w)
	case p == "/ScanJobs" && r.Method == http.MethodPost:
		s.post(w, r)
	case strings.HasPrefix(p, "/ScanJobs/") && strings.HasSuffix(p, "/NextDocument") && r.Method == http.MethodGet:
		s.next(w, r, strings.TrimSuffix(strings.TrimPrefix(p, "/ScanJobs/"), "/NextDocument"))
	case strings.HasPrefix(p, "/ScanJobs/") && r.Method == http.MethodDelete:
		s.mu.Lock()
		j := s.jobs[strings.TrimPrefix(p, "/ScanJobs/")]
		s.counts["delete"]++
		if j != nil {
			j.done = true
		}
		s.mu.Unlock()
		if j == nil {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) status(w http.ResponseWriter) {
	s.mu.Lock()
	state, adf := "Idle", "ScannerAdfEmpty"
	for _, j := range s.jobs {
		if !j.done {
			state = "Processing"
		}
	}
	switch {
	case s.jammed:
		adf = "ScannerAdfJam"
	case s.feeder > 0:
		adf = "ScannerAdfLoaded"
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><scan:ScannerStatus xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm"><pwg:Version>2.63</pwg:Version><pwg:State>%s</pwg:State><scan:AdfState>%s</scan:AdfState></scan:ScannerStatus>`, state, adf)
}

type scanSettings struct {
	Source    string `xml:"InputSource"`
	Duplex    bool   `xml:"Duplex"`
	ColorMode string `xml:"ColorMode"`
	XRes      int    `xml:"XResolution"`
	YRes      int    `xml:"YResolution"`
	Width     int    `xml:"ScanRegions>ScanRegion>Width"`
	Height    int    `xml:"ScanRegions>ScanRegion>Height"`
	Format    string `xml:"DocumentFormat"`
	FormatExt string `xml:"DocumentFormatExt"`
}

func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	var ss scanSettings
	if err := xml.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&ss); err != nil {
		http.Error(w, "bad settings", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busyPosts < s.opts.Busy {
		s.busyPosts++
		s.counts["503"]++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	src := escl.Source(ss.Source)
	if ss.Duplex {
		src = escl.ADFDuplex
	}
	ic := s.caps.Source(src)
	if ic == nil {
		s.counts["409"]++
		w.WriteHeader(http.StatusConflict)
		return
	}
	if src != escl.Flatbed && (s.feeder == 0 || s.jammed) {
		s.counts["409"]++
		w.WriteHeader(http.StatusConflict)
		return
	}
	if s.opts.Strict && (!hasRes(ic, ss.XRes, ss.YRes) || !ic.HasMode(escl.ColorMode(ss.ColorMode))) {
		s.counts["409"]++
		w.WriteHeader(http.StatusConflict)
		return
	}
	if ss.XRes <= 0 || ss.XRes > 1200 || ss.Width <= 0 || ss.Height <= 0 || ss.Width > 10000 || ss.Height > 10000 {
		http.Error(w, "bad settings", http.StatusBadRequest)
		return
	}
	s.nextID++
	id := strconv.Itoa(s.nextID)
	if s.opts.UUIDJobs {
		id = fmt.Sprintf("urn:uuid:4509a320-00a0-008f-00b6-%012d", s.nextID)
	}
	s.jobs[id] = &job{settings: ss}
	switch s.opts.Location {
	case LocationBrokenHost:
		w.Header().Set("Location", "http://192.0.2.1:9/eSCL/ScanJobs/"+id)
	case LocationRelative:
		w.Header().Set("Location", "/eSCL/ScanJobs/"+id)
	default:
		w.Header().Set("Location", s.URL+"/eSCL/ScanJobs/"+id)
	}
	w.WriteHeader(http.StatusCreated)
}

func hasRes(ic *escl.InputCaps, x, y int) bool {
	for _, r := range ic.Resolutions {
		if r.X == x && r.Y == y {
			return true
		}
	}
	return false
}

func (s *Server) next(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	j := s.jobs[id]
	if j == nil || j.done {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	if j.busy < s.opts.Busy {
		j.busy++
		s.counts["503"]++
		s.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if j.served == 0 && j.notFound < s.opts.NotFoundAtStart {
		j.notFound++
		s.counts["404-start"]++
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	if s.opts.Hang {
		s.mu.Unlock()
		<-r.Context().Done()
		return
	}
	flatbed := j.settings.Source == string(escl.Flatbed)
	switch {
	case flatbed && j.served >= 1, !flatbed && s.feeder == 0:
		j.done = true
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	case !flatbed && s.opts.JamAfter > 0 && j.served >= s.opts.JamAfter:
		s.jammed = true
		j.done = true
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	case s.opts.DropAfter > 0 && j.served >= s.opts.DropAfter:
		s.mu.Unlock()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		return
	}
	j.served++
	if !flatbed {
		s.feeder--
	}
	n := j.served
	ss := j.settings
	s.counts["page"]++
	s.mu.Unlock()

	start := time.Now()
	if s.opts.PageDelay > 0 {
		time.Sleep(s.opts.PageDelay)
	}
	w.Header().Set("Content-Type", "image/jpeg")
	switch {
	case s.opts.BadPage == n:
		w.Write([]byte("<html>this is not a jpeg</html>"))
	case s.opts.Prerender:
		s.mu.Lock()
		page := s.page
		s.mu.Unlock()
		if page == nil {
			var b bytes.Buffer
			_ = jpeg.Encode(&b, Page(ss.Width*ss.XRes/300, ss.Height*ss.YRes/300, ss.ColorMode == string(escl.RGB24), n), &jpeg.Options{Quality: 80})
			page = b.Bytes()
			s.mu.Lock()
			s.page = page
			s.mu.Unlock()
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.Write(page)
	default:
		_ = jpeg.Encode(w, Page(ss.Width*ss.XRes/300, ss.Height*ss.YRes/300, ss.ColorMode == string(escl.RGB24), n), &jpeg.Options{Quality: 80})
	}
	s.mu.Lock()
	s.serverTime += time.Since(start)
	s.mu.Unlock()
}

// Page renders a w x h page with lines of "text" and a mark for page n, grey or colour.
func Page(w, h int, colour bool, n int) image.Image {
	rect := image.Rect(0, 0, w, h)
	ink := func(x, y int) bool {
		line := y / 40
		return y%40 > 28 && x > w/10 && x < w-w/10-(line*37+n*53)%(w/3+1) && line%7 != 6 ||
			(x < 40+n*10 && y < 40)
	}
	if !colour {
		img := image.NewGray(rect)
		for y := 0; y < h; y++ {
			row := img.Pix[y*img.Stride : y*img.Stride+w]
			for x := range row {
				if ink(x, y) {
					row[x] = 20
				} else {
					row[x] = 245
				}
			}
		}
		return img
	}
	img := image.NewRGBA(rect)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{250, 248, 240, 255}
			if ink(x, y) {
				c = color.RGBA{20, 30, byte(80 + n*20), 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}
