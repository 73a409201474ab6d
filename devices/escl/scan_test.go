package escl_test

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
	"koffer/devices/peer"
)

func init() { api.DisableConfigDir() }

const (
	hpCaps      = "HP-LaserJet-MFP-M426fdn-ScannerCapabilities.xml"
	kyoceraCaps = "Kyocera-ECOSYS-M2040dn-ScannerCapabilities.xml"
	xeroxCaps   = "Xerox-B235-ScannerCapabilities.xml"
)

// client returns a client for srv with short waits, so quirk tests stay fast.
func client(t *testing.T, srv *escltest.Server, timeout time.Duration) *escl.Client {
	t.Helper()
	c, err := escl.New(srv.BaseURL(), escl.Options{Backoff: time.Millisecond, RequestTimeout: timeout, Logger: slog.New(slog.DiscardHandler),
		Quirks: &escl.Quirks{BusyRetries: 5, NotFoundRetries: 3, NextDocumentDelay: time.Millisecond}})
	require.NoError(t, err)
	return c
}

// checkPDF validates the file with pdfcpu (strict) and counts pages with it.
func checkPDF(t *testing.T, path string, pages int) {
	t.Helper()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationStrict
	require.NoError(t, api.ValidateFile(path, conf), "pdfcpu validation")
	n, err := api.PageCountFile(path)
	require.NoError(t, err)
	assert.Equal(t, pages, n, "pdfcpu page count")
}

var pdfinfoPages = regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`)

// checkPDFInfo asks poppler's pdfinfo: it must read the file without complaint.
func checkPDFInfo(t *testing.T, path string, pages int) {
	t.Helper()
	bin := peer.Need(t, "pdfinfo")[0]
	out, err := exec.CommandContext(t.Context(), bin, path).CombinedOutput()
	require.NoError(t, err, "pdfinfo: %s", out)
	assert.NotContains(t, string(out), "Syntax Error")
	m := pdfinfoPages.FindSubmatch(out)
	require.NotNil(t, m, "pdfinfo output: %s", out)
	n, _ := strconv.Atoi(string(m[1]))
	assert.Equal(t, pages, n, "pdfinfo page count")
}

func TestScanToPDF(t *testing.T) {
	tests := []struct {
		name     string
		caps     string
		opts     escltest.Options
		settings escl.Settings
		pages    int
		// event the quirk leaves on the server, and how often at least
		event string
		times int
	}{
		{name: "flatbed one page", caps: hpCaps, settings: escl.DocumentSettings(escl.Flatbed), pages: 1},
		{name: "ADF three pages", caps: kyoceraCaps, opts: escltest.Options{ADFPages: 3}, settings: escl.DocumentSettings(escl.ADF), pages: 3},
		{name: "ADF duplex colour", caps: hpCaps, opts: escltest.Options{ADFPages: 2}, settings: escl.PhotoSettings(escl.ADFDuplex), pages: 2},
		{name: "503 then 200", caps: xeroxCaps, opts: escltest.Options{ADFPages: 2, Busy: 3}, settings: escl.DocumentSettings(escl.ADF), pages: 2, event: "503", times: 6},
		{name: "broken host in Location", caps: hpCaps, opts: escltest.Options{Location: escltest.LocationBrokenHost}, settings: escl.DocumentSettings(escl.Flatbed), pages: 1},
		{name: "job path with a urn:uuid", caps: kyoceraCaps, opts: escltest.Options{ADFPages: 2, UUIDJobs: true, Location: escltest.LocationRelative}, settings: escl.DocumentSettings(escl.ADF), pages: 2},
		{name: "relative Location", caps: hpCaps, opts: escltest.Options{Location: escltest.LocationRelative}, settings: escl.DocumentSettings(escl.Flatbed), pages: 1},
		{name: "409 for an unsupported resolution falls back", caps: hpCaps, opts: escltest.Options{Strict: true},
			settings: escl.Settings{Source: escl.Flatbed, Resolution: 250, ColorMode: escl.Grayscale8}, pages: 1, event: "409", times: 1},
		{name: "409 for an unsupported colour mode falls back", caps: hpCaps, opts: escltest.Options{Strict: true},
			settings: escl.Settings{Source: escl.Flatbed, Resolution: 75, ColorMode: escl.BlackAndWhite1}, pages: 1, event: "409", times: 1},
		{name: "404 right after start", caps: kyoceraCaps, opts: escltest.Options{ADFPages: 3, NotFoundAtStart: 2}, settings: escl.DocumentSettings(escl.ADF), pages: 3, event: "404-start", times: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Capabilities = escltest.Fixture(t, tt.caps)
			srv := escltest.New(t, opts)
			out := filepath.Join(t.TempDir(), "scan.pdf")
			n, err := client(t, srv, 10*time.Second).ScanToPDF(t.Context(), tt.settings, out)
			require.NoError(t, err)
			assert.Equal(t, tt.pages, n)
			checkPDF(t, out, tt.pages)
			checkPDFInfo(t, out, tt.pages)
			if tt.event != "" {
				assert.GreaterOrEqual(t, srv.Count(tt.event), tt.times, "quirk %s not exercised", tt.event)
			}
			assert.Equal(t, tt.pages, srv.Count("page"))
			assert.Zero(t, srv.Count("delete"), "a successful job is not cancelled")
		})
	}
}

func TestScanFailures(t *testing.T) {
	tests := []struct {
		name     string
		opts     escltest.Options
		settings escl.Settings
		timeout  time.Duration
		code     string
		cancels  bool
	}{
		{name: "jam mid-feeder", opts: escltest.Options{ADFPages: 5, JamAfter: 2}, settings: escl.DocumentSettings(escl.ADF), code: escl.CodeJam},
		{name: "feeder empty", opts: escltest.Options{}, settings: escl.DocumentSettings(escl.ADF), code: escl.CodeADFEmpty},
		{name: "unplugged mid-job", opts: escltest.Options{ADFPages: 5, DropAfter: 1}, settings: escl.DocumentSettings(escl.ADF), code: escl.CodeUnreachable, cancels: true},
		{name: "page is not a JPEG", opts: escltest.Options{ADFPages: 3, BadPage: 2}, settings: escl.DocumentSettings(escl.ADF), code: escl.CodeBadPage, cancels: true},
		{name: "never finishes", opts: escltest.Options{Hang: true}, settings: escl.DocumentSettings(escl.Flatbed), timeout: 200 * time.Millisecond, code: escl.CodeTimeout, cancels: true},
		{name: "always busy", opts: escltest.Options{Busy: 100}, settings: escl.DocumentSettings(escl.Flatbed), code: escl.CodeBusy},
		{name: "no such source", opts: escltest.Options{}, settings: escl.DocumentSettings(escl.ADFDuplex), code: escl.CodeUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Capabilities = escltest.Fixture(t, xeroxCaps) // no duplex unit
			srv := escltest.New(t, opts)
			dir := t.TempDir()
			out := filepath.Join(dir, "scan.pdf")
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			_, err := client(t, srv, timeout).ScanToPDF(t.Context(), tt.settings, out)
			require.Error(t, err)
			var de *devices.Error
			require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
			assert.Equal(t, tt.code, de.Code)
			assert.Equal(t, devices.Scanner, de.Kind)
			assert.NotEmpty(t, de.Hint)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "no PDF, partial or complete, is left behind")
			if tt.cancels {
				assert.Equal(t, 1, srv.Count("delete"), "the job is cancelled on the device")
			}
		})
	}
}

func TestADFEmptyHint(t *testing.T) {
	srv := escltest.New(t, escltest.Options{Capabilities: escltest.Fixture(t, hpCaps)})
	_, err := client(t, srv, time.Second).ScanToPDF(t.Context(), escl.DocumentSettings(escl.ADF), filepath.Join(t.TempDir(), "x.pdf"))
	assert.Equal(t, "Papier in den Einzug legen und auf Weiter tippen.", devices.Hint(err))
}

func TestStatusAndCapabilitiesOverHTTP(t *testing.T) {
	srv := escltest.New(t, escltest.Options{Capabilities: escltest.Fixture(t, kyoceraCaps), ADFPages: 4})
	c := client(t, srv, time.Second)
	caps, err := c.Capabilities(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "Kyocera ECOSYS M2040dn", caps.MakeAndModel)
	st, err := c.Status(t.Context())
	require.NoError(t, err)
	assert.Equal(t, escl.StateIdle, st.State)
	assert.Equal(t, escl.ADFLoaded, st.ADF)
}

func TestProbe(t *testing.T) {
	srv := escltest.New(t, escltest.Options{Capabilities: escltest.Fixture(t, hpCaps), ADFPages: 1, JamAfter: 1})
	info, err := escl.Probe(t.Context(), nil, srv.BaseURL())
	require.NoError(t, err)
	assert.Equal(t, "HP LaserJet MFP M426fdn", info.MakeAndModel)
	assert.Equal(t, []escl.Source{escl.Flatbed, escl.ADF, escl.ADFDuplex}, info.Sources)
	assert.Equal(t, escl.StateIdle, info.State)
	assert.Equal(t, escl.ADFLoaded, info.ADF)
	assert.NoError(t, info.Problem())

	srv.Close()
	_, err = escl.Probe(t.Context(), nil, srv.BaseURL())
	var de *devices.Error
	require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
	assert.Equal(t, escl.CodeUnreachable, de.Code)
}

// A feeder left jammed by one job is reported before the next job starts.
func TestJammedFeederBeforeStart(t *testing.T) {
	srv := escltest.New(t, escltest.Options{Capabilities: escltest.Fixture(t, kyoceraCaps), ADFPages: 4, JamAfter: 1})
	c := client(t, srv, 5*time.Second)
	_, err := c.ScanToPDF(t.Context(), escl.DocumentSettings(escl.ADF), filepath.Join(t.TempDir(), "a.pdf"))
	require.Error(t, err)
	posts := srv.Count("page")
	_, err = c.ScanToPDF(t.Context(), escl.DocumentSettings(escl.ADF), filepath.Join(t.TempDir(), "b.pdf"))
	var de *devices.Error
	require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
	assert.Equal(t, escl.CodeJam, de.Code)
	assert.Equal(t, posts, srv.Count("page"), "no page is pulled from a jammed feeder")
}

func TestProbeReportsJam(t *testing.T) {
	srv := escltest.New(t, escltest.Options{Capabilities: escltest.Fixture(t, xeroxCaps), ADFPages: 3, JamAfter: 1})
	_, err := client(t, srv, 5*time.Second).ScanToPDF(t.Context(), escl.DocumentSettings(escl.ADF), filepath.Join(t.TempDir(), "x.pdf"))
	require.Error(t, err)
	info, err := escl.Probe(t.Context(), nil, srv.BaseURL())
	require.NoError(t, err, "a jammed scanner still answers")
	assert.Equal(t, escl.ADFJam, info.ADF)
	assert.Equal(t, []escl.Source{escl.Flatbed, escl.ADF}, info.Sources)
	var de *devices.Error
	require.True(t, errors.As(info.Problem(), &de))
	assert.Equal(t, escl.CodeJam, de.Code)
	assert.Contains(t, de.Hint, "Papierstau")
}
