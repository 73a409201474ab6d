package escl_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
)

// fastOptions keep retries real but quick.
func fastOptions() escl.Options {
	return escl.Options{RetryDelay: time.Millisecond, RequestTimeout: 5 * time.Second, PageTimeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
}

func newClient(t *testing.T, srv *escltest.Server, opts escl.Options) *escl.Client {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	c, err := escl.New(hs.URL+"/eSCL", opts)
	require.NoError(t, err)
	return c
}

// scanAll runs a whole job with the profile and returns the pages' bytes.
func scanAll(t *testing.T, c *escl.Client, p escl.Profile) ([][]byte, *escl.Settings, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	caps, err := c.Capabilities(ctx)
	require.NoError(t, err)
	s, err := caps.Settings(p, c.Quirks())
	require.NoError(t, err)
	var pages [][]byte
	_, err = c.Scan(ctx, caps, s, func(pg *escl.Page) error {
		b, err := io.ReadAll(pg.Body)
		if err != nil {
			return err
		}
		pages = append(pages, b)
		return nil
	})
	return pages, &s, err
}

func TestScanRealCapabilities(t *testing.T) {
	for _, model := range escltest.Models {
		for _, src := range []escl.InputSource{escl.Platen, escl.Feeder} {
			t.Run(model+"/"+string(src), func(t *testing.T) {
				srv := escltest.NewFromFixture(t, model, escltest.Behaviour{ADFPages: 3})
				c := newClient(t, srv, fastOptions())
				pages, s, err := scanAll(t, c, escl.Profile{Source: src})
				require.NoError(t, err)
				want := 1
				if src == escl.Feeder {
					want = 3
				}
				require.Len(t, pages, want)
				cfg, err := jpeg.DecodeConfig(bytes.NewReader(pages[0]))
				require.NoError(t, err)
				assert.Equal(t, s.Width*s.Resolution.X/300, cfg.Width, "page width in pixels follows settings in 1/300 inch")
				posted := srv.Posted()
				require.Len(t, posted, 1)
				assert.Equal(t, escl.Grayscale8, posted[0].ColorMode)
				assert.Equal(t, escl.Resolution{X: 300, Y: 300}, posted[0].Resolution)
			})
		}
	}
}

func TestQuirksRecovered(t *testing.T) {
	tests := []struct {
		name   string
		b      escltest.Behaviour
		quirks *escl.Quirks
		check  func(t *testing.T, srv *escltest.Server, s *escl.Settings)
	}{
		{name: "503 then 200 on every endpoint", b: escltest.Behaviour{Busy503: 3},
			check: func(t *testing.T, srv *escltest.Server, _ *escl.Settings) {
				assert.Equal(t, 4, srv.Requests("GET ScannerCapabilities"))
				assert.Equal(t, 4, srv.Requests("POST ScanJobs"))
			}},
		{name: "Location with a broken host", b: escltest.Behaviour{Location: escltest.LocationBrokenHost}},
		{name: "relative Location", b: escltest.Behaviour{Location: escltest.LocationRelative}},
		{name: "path-only Location", b: escltest.Behaviour{Location: escltest.LocationPathOnly}},
		{name: "409 for an advertised resolution falls back to the nearest", b: escltest.Behaviour{Reject: []int{300}},
			check: func(t *testing.T, srv *escltest.Server, s *escl.Settings) {
				posted := srv.Posted()
				require.Len(t, posted, 2)
				assert.Equal(t, 300, posted[0].Resolution.X)
				assert.Equal(t, 400, posted[1].Resolution.X, "nearest to 300 on the Kyocera, tie goes up")
			}},
		{name: "404 right after job start means not ready", b: escltest.Behaviour{EarlyNotFound: 2},
			check: func(t *testing.T, srv *escltest.Server, _ *escl.Settings) {
				assert.Equal(t, 3+2+1, srv.Requests("GET NextDocument"), "2 early 404, 3 pages, 1 final 404")
			}},
		{name: "404 right after start, as a model quirk", b: escltest.Behaviour{EarlyNotFound: 2}, quirks: &escl.Quirks{RetryNotFound: 2}},
		{name: "device wants a delay before NextDocument", b: escltest.Behaviour{MinPageGap: 30 * time.Millisecond},
			quirks: &escl.Quirks{NextDocumentDelay: escl.Duration{Duration: 40 * time.Millisecond}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := escltest.NewFromFixture(t, "Kyocera-ECOSYS-M2040dn", tt.b)
			opts := fastOptions()
			opts.Quirks = tt.quirks
			c := newClient(t, srv, opts)
			pages, s, err := scanAll(t, c, escl.Profile{Source: escl.Feeder})
			require.NoError(t, err)
			assert.Len(t, pages, 3)
			if tt.check != nil {
				tt.check(t, srv, s)
			}
		})
	}
}

func TestQuirkNeededWithoutIt(t *testing.T) {
	// The same device without the delay quirk fails: the quirk is what makes it work.
	srv := escltest.NewFromFixture(t, "Kyocera-ECOSYS-M2040dn", escltest.Behaviour{MinPageGap: 30 * time.Millisecond})
	opts := fastOptions()
	opts.Quirks = &escl.Quirks{}
	c := newClient(t, srv, opts)
	_, _, err := scanAll(t, c, escl.Profile{Source: escl.Feeder})
	assertCode(t, err, escl.CodeJobFailed)
}

func TestScanFailures(t *testing.T) {
	tests := []struct {
		name    string
		b       escltest.Behaviour
		opts    func(*escl.Options)
		code    string
		pages   int
		deleted bool
	}{
		{name: "ADF empty", b: escltest.Behaviour{ADFEmpty: true}, code: escl.CodeADFEmpty},
		{name: "paper jam after 2 pages is not a complete job", b: escltest.Behaviour{JamAfter: 2}, code: escl.CodeADFJam, pages: 2, deleted: true},
		{name: "unplugged mid-page", b: escltest.Behaviour{DropAfter: 1}, code: escl.CodeUnreachable, pages: 1, deleted: true},
		{name: "scanner never finishes a page", b: escltest.Behaviour{Hang: true},
			opts: func(o *escl.Options) { o.PageTimeout = 100 * time.Millisecond }, code: escl.CodeTimeout, deleted: true},
		{name: "503 forever exhausts the budget", b: escltest.Behaviour{Busy503: 1000},
			opts: func(o *escl.Options) { o.Retries = 3 }, code: escl.CodeBusy},
		{name: "every resolution refused", b: escltest.Behaviour{Reject: []int{200, 300, 400, 600}}, code: escl.CodeUnsupported},
		{name: "completed with a page it never sent", b: escltest.Behaviour{ADFPages: 3, LastPageLost: true}, code: escl.CodeMissingPage, pages: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := escltest.NewFromFixture(t, "Kyocera-ECOSYS-M2040dn", tt.b)
			opts := fastOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			hs := httptest.NewServer(srv)
			defer hs.Close()
			c, err := escl.New(hs.URL+"/eSCL", opts)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			caps, err := c.Capabilities(ctx)
			if tt.code == escl.CodeBusy {
				assertCode(t, err, escl.CodeBusy)
				return
			}
			require.NoError(t, err)
			s, err := caps.Settings(escl.Profile{Source: escl.Feeder}, c.Quirks())
			require.NoError(t, err)
			pages := 0
			_, err = c.Scan(ctx, caps, s, func(p *escl.Page) error {
				if _, err := io.Copy(io.Discard, p.Body); err != nil {
					return err
				}
				pages++
				return nil
			})
			assertCode(t, err, tt.code)
			assert.Equal(t, tt.pages, pages)
			if tt.deleted {
				assert.Equal(t, 1, srv.Requests("DELETE Job"), "a failed job is deleted on the device")
			}
		})
	}
}

func TestCallerCancelDeletesJob(t *testing.T) {
	srv := escltest.NewFromFixture(t, "HP-LaserJet-MFP-M426fdn", escltest.Behaviour{ADFPages: 5})
	c := newClient(t, srv, fastOptions())
	ctx, cancel := context.WithCancel(t.Context())
	caps, err := c.Capabilities(ctx)
	require.NoError(t, err)
	s, err := caps.Settings(escl.Profile{Source: escl.Feeder}, c.Quirks())
	require.NoError(t, err)
	n, err := c.Scan(ctx, caps, s, func(p *escl.Page) error {
		cancel() // the caseworker presses Abbrechen after the first page
		return nil
	})
	assertCode(t, err, escl.CodeCanceled)
	assert.Equal(t, 1, n, "no page is fetched after cancel")
	assert.Equal(t, 1, srv.Requests("DELETE Job"))
}

func TestStatusAndUnreachable(t *testing.T) {
	srv := escltest.NewFromFixture(t, "Xerox-B235", escltest.Behaviour{})
	c := newClient(t, srv, fastOptions())
	st, err := c.Status(t.Context())
	require.NoError(t, err)
	assert.Equal(t, escl.Idle, st.State)
	assert.Equal(t, escl.ADFLoaded, st.ADFState)

	hs := httptest.NewServer(http.NotFoundHandler())
	hs.Close() // nothing listens there any more
	gone, err := escl.New(hs.URL+"/eSCL", fastOptions())
	require.NoError(t, err)
	_, err = gone.Status(t.Context())
	assertCode(t, err, escl.CodeUnreachable)
}

func TestHostileServerAnswer(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(bytes.Repeat([]byte("<a>"), 50000))
	}))
	defer hs.Close()
	c, err := escl.New(hs.URL+"/eSCL", fastOptions())
	require.NoError(t, err)
	_, err = c.Capabilities(t.Context())
	assertCode(t, err, escl.CodeBadResponse)
}

func TestDescribe(t *testing.T) {
	srv := escltest.NewFromFixture(t, "HP-LaserJet-MFP-M426fdn", escltest.Behaviour{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	info := escl.Describe(t.Context(), hs.URL+"/eSCL", time.Second, fastOptions())
	require.Nil(t, info.Err)
	assert.Equal(t, "HP LaserJet MFP M426fdn", info.MakeAndModel)
	assert.Equal(t, []string{"flatbed", "adf", "adf-duplex"}, info.Sources)
	assert.Equal(t, escl.Idle, info.State)

	hs.Close()
	info = escl.Describe(t.Context(), hs.URL+"/eSCL", time.Second, fastOptions())
	require.NotNil(t, info.Err)
	assert.Equal(t, escl.CodeUnreachable, info.Err.Code)
}

// handlerTransport carries exchanges to an http.Handler without a socket, as IPP-over-USB
// carries them over bulk endpoints: the client must not care which.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

var _ http.RoundTripper = handlerTransport{}

func TestAnyRoundTripper(t *testing.T) {
	srv := escltest.NewFromFixture(t, "Xerox-B235", escltest.Behaviour{ADFPages: 2, Location: escltest.LocationBrokenHost})
	opts := fastOptions()
	opts.Transport = handlerTransport{srv}
	c, err := escl.New("http://usb-scanner.invalid/eSCL", opts)
	require.NoError(t, err)
	pages, _, err := scanAll(t, c, escl.Profile{Source: escl.Feeder})
	require.NoError(t, err)
	assert.Len(t, pages, 2)
}
