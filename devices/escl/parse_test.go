package escl_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
)

func res(dpis ...int) []escl.Resolution {
	var out []escl.Resolution
	for _, d := range dpis {
		out = append(out, escl.Resolution{X: d, Y: d})
	}
	return out
}

func TestParseCapabilitiesFixtures(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		model    string
		version  string
		platen   escl.InputCaps
		adf      *escl.InputCaps
		duplex   bool
		capacity int
	}{
		{
			name: "HP M426fdn", file: "HP-LaserJet-MFP-M426fdn-ScannerCapabilities.xml",
			model: "HP LaserJet MFP M426fdn", version: "2.5",
			platen: escl.InputCaps{MinWidth: 576, MaxWidth: 2550, MinHeight: 576, MaxHeight: 3508,
				ColorModes: []escl.ColorMode{escl.RGB24, escl.Grayscale8}, Resolutions: res(75, 200, 300, 600, 1200),
				Formats: []string{"image/jpeg", "application/pdf"}},
			adf: &escl.InputCaps{MinWidth: 576, MaxWidth: 2550, MinHeight: 576, MaxHeight: 4500,
				ColorModes: []escl.ColorMode{escl.RGB24, escl.Grayscale8}, Resolutions: res(75, 200, 300),
				Formats: []string{"image/jpeg", "application/pdf"}},
			duplex: true, capacity: 50,
		},
		{
			name: "Kyocera M2040dn", file: "Kyocera-ECOSYS-M2040dn-ScannerCapabilities.xml",
			model: "Kyocera ECOSYS M2040dn", version: "2.62",
			platen: escl.InputCaps{MinWidth: 118, MaxWidth: 2551, MinHeight: 118, MaxHeight: 3508,
				ColorModes:  []escl.ColorMode{escl.BlackAndWhite1, escl.Grayscale8, escl.RGB24},
				Resolutions: []escl.Resolution{{200, 100}, {200, 200}, {200, 400}, {300, 300}, {400, 400}, {600, 600}},
				Formats:     []string{"image/jpeg", "application/pdf"}},
			adf: &escl.InputCaps{MinWidth: 591, MaxWidth: 2551, MinHeight: 591, MaxHeight: 4205,
				ColorModes:  []escl.ColorMode{escl.BlackAndWhite1, escl.Grayscale8, escl.RGB24},
				Resolutions: []escl.Resolution{{200, 100}, {200, 200}, {200, 400}, {300, 300}, {400, 400}, {600, 600}},
				Formats:     []string{"image/jpeg", "application/pdf"}},
			duplex: true, capacity: 75,
		},
		{
			name: "Xerox B235", file: "Xerox-B235-ScannerCapabilities.xml",
			model: "Xerox(R) B235 MFP", version: "2.9",
			platen: escl.InputCaps{MinWidth: 300, MaxWidth: 2550, MinHeight: 300, MaxHeight: 3508,
				ColorModes:  []escl.ColorMode{escl.RGB24, escl.Grayscale8, escl.BlackAndWhite1},
				Resolutions: res(75, 150, 200, 300, 400, 600),
				Formats:     []string{"application/pdf", "image/jpeg", "image/tiff"}},
			adf: &escl.InputCaps{MinWidth: 1230, MaxWidth: 2550, MinHeight: 1740, MaxHeight: 4200,
				ColorModes:  []escl.ColorMode{escl.RGB24, escl.Grayscale8, escl.BlackAndWhite1},
				Resolutions: res(75, 150, 200, 300, 400, 600),
				Formats:     []string{"application/pdf", "image/jpeg", "image/tiff"}},
			duplex: false, capacity: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps, err := escl.ParseCapabilities(bytes.NewReader(escltest.Fixture(t, tt.file)))
			require.NoError(t, err)
			assert.Equal(t, tt.model, caps.MakeAndModel)
			assert.Equal(t, tt.version, caps.Version)
			require.NotNil(t, caps.Platen)
			assert.Equal(t, tt.platen, *caps.Platen)
			assert.Equal(t, tt.adf, caps.ADFSimplex)
			assert.Equal(t, tt.duplex, caps.ADFDuplex != nil)
			assert.Equal(t, tt.capacity, caps.FeederCapacity)
			assert.Contains(t, caps.ADFOptions, "DetectPaperLoaded")
			assert.Equal(t, 300, caps.Platen.NearestResolution(300))
		})
	}
}

func TestParseStatusFixtures(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		state     escl.State
		adf       escl.ADFState
		jobs      int
		firstURI  string
		firstJob  string
		completed int
		reason    string
	}{
		{name: "HP M426fdn idle, feeder empty", file: "HP-LaserJet-MFP-M426fdn-ScannerStatus.xml",
			state: escl.StateIdle, adf: escl.ADFEmpty, jobs: 2, firstURI: "/eSCL/ScanJobs/1005",
			firstJob: "Completed", completed: 1, reason: "JobCompletedSuccessfully"},
		{name: "Kyocera M2040dn scanning from the feeder", file: "Kyocera-ECOSYS-M2040dn-ScannerStatus.xml",
			state: escl.StateProcessing, adf: escl.ADFProcessing, jobs: 5,
			firstURI: "/eSCL/ScanJobs/urn:uuid:4509a320-00a0-008f-00b6-00559a327d32",
			firstJob: "Processing", completed: 0, reason: "JobScanningAndTransferring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := escl.ParseStatus(bytes.NewReader(escltest.Fixture(t, tt.file)))
			require.NoError(t, err)
			assert.Equal(t, tt.state, st.State)
			assert.Equal(t, tt.adf, st.ADF)
			require.Len(t, st.Jobs, tt.jobs)
			assert.Equal(t, tt.firstURI, st.Jobs[0].URI)
			assert.Equal(t, tt.firstJob, st.Jobs[0].State)
			assert.Equal(t, tt.completed, st.Jobs[0].ImagesCompleted)
			assert.Equal(t, []string{tt.reason}, st.Jobs[0].Reasons)
		})
	}
}

func TestParseHostileXML(t *testing.T) {
	deep := strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000)
	huge := `<ScannerStatus><State>Idle</State><x>` + strings.Repeat("A", 2<<20) + `</x></ScannerStatus>`
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{name: "deeply nested", doc: `<ScannerStatus>` + deep + `<State>Idle</State></ScannerStatus>`, wantErr: "nested too deeply"},
		{name: "huge", doc: huge, wantErr: "too large"},
		{name: "not xml", doc: "{\"state\":\"Idle\"}", wantErr: "decode xml"},
		{name: "wrong document", doc: `<ScannerCapabilities><State>Idle</State></ScannerCapabilities>`, wantErr: "expected element type <ScannerStatus>"},
		{name: "no state", doc: `<ScannerStatus><AdfState>ScannerAdfJam</AdfState></ScannerStatus>`, wantErr: "no state"},
		{name: "truncated", doc: `<ScannerStatus><State>Idle</Sta`, wantErr: "parse xml"},
		{name: "negative number", doc: `<ScannerStatus><State>Idle</State><Jobs><JobInfo><ImagesCompleted>-4</ImagesCompleted></JobInfo></Jobs></ScannerStatus>`, wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := escl.ParseStatus(strings.NewReader(tt.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestParseAcceptsAnyNamespace(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{name: "no namespace", doc: `<ScannerStatus><State>Idle</State><AdfState>ScannerAdfJam</AdfState></ScannerStatus>`},
		{name: "other prefixes", doc: `<x:ScannerStatus xmlns:x="urn:other" xmlns:y="urn:y"><y:State>Idle</y:State><x:AdfState>ScannerAdfJam</x:AdfState></x:ScannerStatus>`},
		{name: "default namespace", doc: `<ScannerStatus xmlns="http://schemas.hp.com/imaging/escl/2011/05/03"><State>Idle</State><AdfState>ScannerAdfJam</AdfState></ScannerStatus>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := escl.ParseStatus(strings.NewReader(tt.doc))
			require.NoError(t, err)
			assert.Equal(t, escl.StateIdle, st.State)
			assert.Equal(t, escl.ADFJam, st.ADF)
		})
	}
}

func TestQuirksFor(t *testing.T) {
	k := escl.QuirksFor("Kyocera ECOSYS M2040dn")
	assert.Positive(t, k.NextDocumentDelay)
	unknown := escl.QuirksFor("Acme Scan 1")
	assert.Zero(t, unknown.NextDocumentDelay)
	assert.Positive(t, unknown.BusyRetries)
	assert.GreaterOrEqual(t, k.NotFoundRetries, unknown.NotFoundRetries)
}

var fixtureFiles = []string{
	"HP-LaserJet-MFP-M426fdn-ScannerCapabilities.xml",
	"HP-LaserJet-MFP-M426fdn-ScannerStatus.xml",
	"Kyocera-ECOSYS-M2040dn-ScannerCapabilities.xml",
	"Kyocera-ECOSYS-M2040dn-ScannerStatus.xml",
	"Xerox-B235-ScannerCapabilities.xml",
}

func FuzzParseCapabilities(f *testing.F) {
	for _, n := range fixtureFiles {
		f.Add(escltest.Fixture(f, n))
	}
	for _, n := range projectFiles {
		f.Add(projectFile(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		caps, err := escl.ParseCapabilities(bytes.NewReader(b))
		if err != nil {
			return
		}
		if caps.Platen == nil && caps.ADFSimplex == nil && caps.ADFDuplex == nil {
			t.Fatal("capabilities without a source accepted")
		}
		for _, ic := range []*escl.InputCaps{caps.Platen, caps.ADFSimplex, caps.ADFDuplex} {
			if ic != nil {
				_ = ic.NearestResolution(300)
				_ = ic.NearestMode(escl.Grayscale8)
			}
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	for _, n := range fixtureFiles {
		f.Add(escltest.Fixture(f, n))
	}
	for _, n := range projectFiles {
		f.Add(projectFile(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := escl.ParseStatus(bytes.NewReader(b))
		if err != nil {
			return
		}
		if st.State == "" {
			t.Fatal("status without state accepted")
		}
		for _, j := range st.Jobs {
			if j.ImagesCompleted < 0 {
				t.Fatal("negative image count accepted")
			}
		}
	})
}

// A device that answers with an endless document is cut off after the size limit: a clear
// error, no hang, no memory blow-up.
func TestEndlessCapabilitiesOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<ScannerCapabilities>")
		chunk := []byte(strings.Repeat("<a>x</a>", 1024))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := escl.New(srv.URL+"/eSCL", escl.Options{RequestTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	_, err = c.Capabilities(t.Context())
	var de *devices.Error
	require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
	assert.Equal(t, escl.CodeBadAnswer, de.Code)
	assert.Contains(t, err.Error(), "too large")
}
