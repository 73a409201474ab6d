package escl_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
)

func TestParseCapabilitiesRealScanners(t *testing.T) {
	res := func(dpis ...int) []escl.Resolution {
		var out []escl.Resolution
		for _, d := range dpis {
			out = append(out, escl.Resolution{X: d, Y: d})
		}
		return out
	}
	kyoceraRes := []escl.Resolution{{200, 100}, {200, 200}, {200, 400}, {300, 300}, {400, 400}, {600, 600}}
	tests := []struct {
		name         string
		model        string
		makeAndModel string
		version      string
		serial       string
		platen       escl.InputCaps
		adf          escl.InputCaps
		duplex       bool
		capacity     int
	}{
		{
			name: "HP M426fdn", model: "HP-LaserJet-MFP-M426fdn", makeAndModel: "HP LaserJet MFP M426fdn",
			version: "2.5", serial: "PHBLL6F5GB",
			platen: escl.InputCaps{MinWidth: 576, MaxWidth: 2550, MinHeight: 576, MaxHeight: 3508,
				ColorModes: []escl.ColorMode{escl.RGB24, escl.Grayscale8}, Formats: []string{"image/jpeg", "application/pdf"},
				Resolutions: res(75, 200, 300, 600, 1200), Intents: []string{"Document", "Photo", "Preview", "TextAndGraphic"},
				MaxOpticalX: 1200, MaxOpticalY: 1200},
			adf: escl.InputCaps{MinWidth: 576, MaxWidth: 2550, MinHeight: 576, MaxHeight: 4500,
				ColorModes: []escl.ColorMode{escl.RGB24, escl.Grayscale8}, Formats: []string{"image/jpeg", "application/pdf"},
				Resolutions: res(75, 200, 300), Intents: []string{"Document", "Photo", "Preview", "TextAndGraphic"},
				MaxOpticalX: 300, MaxOpticalY: 300},
			duplex: true, capacity: 50,
		},
		{
			name: "Kyocera M2040dn", model: "Kyocera-ECOSYS-M2040dn", makeAndModel: "Kyocera ECOSYS M2040dn",
			version: "2.62", serial: "VCF9192281",
			platen: escl.InputCaps{MinWidth: 118, MaxWidth: 2551, MinHeight: 118, MaxHeight: 3508,
				ColorModes: []escl.ColorMode{escl.BlackAndWhite1, escl.Grayscale8, escl.RGB24}, Formats: []string{"image/jpeg", "application/pdf"},
				Resolutions: kyoceraRes, Intents: []string{"Document", "TextAndGraphic", "Photo", "Preview"}},
			adf: escl.InputCaps{MinWidth: 591, MaxWidth: 2551, MinHeight: 591, MaxHeight: 4205,
				ColorModes: []escl.ColorMode{escl.BlackAndWhite1, escl.Grayscale8, escl.RGB24}, Formats: []string{"image/jpeg", "application/pdf"},
				Resolutions: kyoceraRes, Intents: []string{"Document", "TextAndGraphic", "Photo", "Preview"}},
			duplex: true, capacity: 75,
		},
		{
			name: "Xerox B235 (resolutions per colour mode, no duplex)", model: "Xerox-B235", makeAndModel: "Xerox(R) B235 MFP",
			version: "2.9", serial: "34004H030206H",
			platen: escl.InputCaps{MinWidth: 300, MaxWidth: 2550, MinHeight: 300, MaxHeight: 3508,
				ColorModes: []escl.ColorMode{escl.RGB24, escl.Grayscale8, escl.BlackAndWhite1}, Formats: []string{"application/pdf", "image/jpeg", "image/tiff"},
				Resolutions: res(75, 150, 200, 300, 400, 600), Intents: []string{"Document", "Photo", "Preview", "TextAndGraphic"},
				MaxOpticalX: 600, MaxOpticalY: 600},
			adf: escl.InputCaps{MinWidth: 1230, MaxWidth: 2550, MinHeight: 1740, MaxHeight: 4200,
				ColorModes: []escl.ColorMode{escl.RGB24, escl.Grayscale8, escl.BlackAndWhite1}, Formats: []string{"application/pdf", "image/jpeg", "image/tiff"},
				Resolutions: res(75, 150, 200, 300, 400, 600), Intents: []string{"Document", "Photo", "Preview", "TextAndGraphic"},
				MaxOpticalX: 600, MaxOpticalY: 600},
			duplex: false, capacity: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps, err := escl.ParseCapabilities(bytes.NewReader(escltest.Fixture(t, tt.model+"-ScannerCapabilities.xml")))
			require.NoError(t, err)
			assert.Equal(t, tt.makeAndModel, caps.MakeAndModel)
			assert.Equal(t, tt.version, caps.Version)
			assert.Equal(t, tt.serial, caps.SerialNumber)
			require.NotNil(t, caps.Platen)
			assert.Equal(t, tt.platen, *caps.Platen)
			require.NotNil(t, caps.ADFSimplex)
			assert.Equal(t, tt.adf, *caps.ADFSimplex)
			if tt.duplex {
				require.NotNil(t, caps.ADFDuplex)
				assert.Equal(t, tt.adf, *caps.ADFDuplex, "duplex caps equal simplex on this model")
			} else {
				assert.Nil(t, caps.ADFDuplex)
			}
			assert.Equal(t, tt.capacity, caps.FeederCapacity)
		})
	}
}

func TestParseStatusRealScanners(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		state    escl.State
		adf      escl.ADFState
		jobs     int
		firstURI string
		first    string
		images   int
	}{
		{name: "HP idle, feeder empty", file: "HP-LaserJet-MFP-M426fdn-ScannerStatus.xml", state: escl.Idle, adf: escl.ADFEmpty,
			jobs: 2, firstURI: "/eSCL/ScanJobs/1005", first: "Completed", images: 1},
		{name: "Kyocera processing", file: "Kyocera-ECOSYS-M2040dn-ScannerStatus.xml", state: escl.Processing, adf: escl.ADFProcessing,
			jobs: 5, firstURI: "/eSCL/ScanJobs/urn:uuid:4509a320-00a0-008f-00b6-00559a327d32", first: "Processing", images: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := escl.ParseStatus(bytes.NewReader(escltest.Fixture(t, tt.file)))
			require.NoError(t, err)
			assert.Equal(t, tt.state, st.State)
			assert.Equal(t, tt.adf, st.ADFState)
			require.Len(t, st.Jobs, tt.jobs)
			assert.Equal(t, tt.firstURI, st.Jobs[0].URI)
			assert.Equal(t, tt.first, st.Jobs[0].State)
			assert.Equal(t, tt.images, st.Jobs[0].ImagesCompleted)
			assert.NotNil(t, st.Job(tt.firstURI+"/"), "Job matches with or without a trailing slash")
			assert.NotNil(t, st.Job("http://printer.local:8080"+tt.firstURI), "Job compares paths only")
			assert.Nil(t, st.Job("/eSCL/ScanJobs/none"))
		})
	}
}

func TestParseHostileXML(t *testing.T) {
	const open = `<scan:ScannerStatus xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm">`
	tests := []struct {
		name string
		doc  string
	}{
		{name: "empty", doc: ""},
		{name: "not xml", doc: "HTTP/1.1 200 OK garbage"},
		{name: "truncated", doc: open + "<pwg:State>Idle</pwg:State>"},
		{name: "wrong root namespace", doc: `<scan:ScannerStatus xmlns:scan="urn:evil"><pwg:State>Idle</pwg:State></scan:ScannerStatus>`},
		{name: "no namespace", doc: `<ScannerStatus><State>Idle</State></ScannerStatus>`},
		{name: "wrong root", doc: `<scan:ScannerCapabilities xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03"/>`},
		{name: "deeply nested", doc: open + strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000) + "</scan:ScannerStatus>"},
		{name: "huge", doc: open + "<pwg:State>Idle</pwg:State><x>" + strings.Repeat("A", escl.MaxXMLSize) + "</x></scan:ScannerStatus>"},
		{name: "entity expansion", doc: `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>` + open + "<pwg:State>&b;</pwg:State></scan:ScannerStatus>"},
		{name: "status without state", doc: open + "</scan:ScannerStatus>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := escl.ParseStatus(strings.NewReader(tt.doc))
			require.Error(t, err)
			assert.True(t, errors.Is(err, escl.ErrMalformed), "error %v should be ErrMalformed", err)
		})
	}
}

func TestParseCapabilitiesWithoutSource(t *testing.T) {
	_, err := escl.ParseCapabilities(strings.NewReader(`<scan:ScannerCapabilities xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03"><pwg:MakeAndModel xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm">X</pwg:MakeAndModel></scan:ScannerCapabilities>`))
	assert.ErrorIs(t, err, escl.ErrMalformed)
}

func TestSettingsRoundTrip(t *testing.T) {
	in := escl.Settings{Source: escl.Feeder, Duplex: true, ColorMode: escl.Grayscale8, Resolution: escl.Resolution{X: 300, Y: 300},
		Width: escl.A4Width, Height: escl.A4Height, Format: "image/jpeg", Intent: "Document"}
	doc := in.Document()
	assert.Contains(t, string(doc), "<pwg:ContentRegionUnits>escl:ThreeHundredthsOfInches</pwg:ContentRegionUnits>")
	out, err := escl.ParseSettings(bytes.NewReader(doc))
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestSettingsGolden pins the ScanSettings document devices receive for the default profile.
func TestSettingsGolden(t *testing.T) {
	caps, err := escl.ParseCapabilities(bytes.NewReader(escltest.Fixture(t, "HP-LaserJet-MFP-M426fdn-ScannerCapabilities.xml")))
	require.NoError(t, err)
	s, err := caps.Settings(escl.Profile{Source: escl.Feeder}, escl.Quirks{})
	require.NoError(t, err)
	golden := filepath.Join("..", "..", "testdata", "escl", "scansettings-adf-grey-300-a4.xml")
	if *update {
		require.NoError(t, os.WriteFile(golden, s.Document(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(s.Document()))
}

func TestProfileSettings(t *testing.T) {
	tests := []struct {
		name    string
		model   string
		profile escl.Profile
		quirks  escl.Quirks
		want    escl.Settings
		code    string
	}{
		{name: "default is grey 300 dpi A4 on the platen", model: "HP-LaserJet-MFP-M426fdn",
			want: escl.Settings{Source: escl.Platen, ColorMode: escl.Grayscale8, Resolution: escl.Resolution{X: 300, Y: 300},
				Width: escl.A4Width, Height: escl.A4Height, Format: "image/jpeg", Intent: "Document"}},
		{name: "colour photo from the feeder, duplex", model: "Kyocera-ECOSYS-M2040dn", profile: escl.Profile{Source: escl.Feeder, Duplex: true, Color: true},
			want: escl.Settings{Source: escl.Feeder, Duplex: true, ColorMode: escl.RGB24, Resolution: escl.Resolution{X: 300, Y: 300},
				Width: escl.A4Width, Height: escl.A4Height, Format: "image/jpeg", Intent: "Photo"}},
		{name: "nearest resolution, tie goes up", model: "HP-LaserJet-MFP-M426fdn", profile: escl.Profile{DPI: 400},
			want: escl.Settings{Source: escl.Platen, ColorMode: escl.Grayscale8, Resolution: escl.Resolution{X: 300, Y: 300},
				Width: escl.A4Width, Height: escl.A4Height, Format: "image/jpeg", Intent: "Document"}},
		{name: "quirk caps resolution", model: "Xerox-B235", profile: escl.Profile{DPI: 600}, quirks: escl.Quirks{MaxResolution: 300},
			want: escl.Settings{Source: escl.Platen, ColorMode: escl.Grayscale8, Resolution: escl.Resolution{X: 300, Y: 300},
				Width: escl.A4Width, Height: escl.A4Height, Format: "image/jpeg", Intent: "Document"}},
		{name: "no duplex on the Xerox", model: "Xerox-B235", profile: escl.Profile{Source: escl.Feeder, Duplex: true}, code: escl.CodeNoDuplex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps, err := escl.ParseCapabilities(bytes.NewReader(escltest.Fixture(t, tt.model+"-ScannerCapabilities.xml")))
			require.NoError(t, err)
			got, err := caps.Settings(tt.profile, tt.quirks)
			if tt.code != "" {
				assertCode(t, err, tt.code)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestBuiltinQuirks(t *testing.T) {
	q := escl.BuiltinQuirks()
	assert.Equal(t, 300, q.Lookup("Canon iR2625/2630").MaxResolution)
	assert.True(t, q.Lookup("MF410 Series").PrecheckADF)
	assert.True(t, q.Lookup("HP LaserJet MFP M630").HostLocalhost)
	assert.Equal(t, escl.Quirks{}, q.Lookup("HP LaserJet MFP M426fdn"), "fixture models need no quirk")

	tbl, err := escl.ParseQuirks("[[model]]\nmatch = \"ACME *\"\nnext_document_delay = \"250ms\"\nretry_not_found = 3\n")
	require.NoError(t, err)
	got := tbl.Lookup("ACME Scan 9")
	assert.Equal(t, 250_000_000, int(got.NextDocumentDelay.Duration))
	assert.Equal(t, 3, got.RetryNotFound)

	_, err = escl.ParseQuirks("[[model]]\nmax_resolution = 300\n")
	assert.Error(t, err, "an entry without match is refused")
}

func FuzzParseCapabilities(f *testing.F) {
	for _, m := range escltest.Models {
		f.Add(escltest.Fixture(f, m+"-ScannerCapabilities.xml"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		caps, err := escl.ParseCapabilities(bytes.NewReader(data))
		if err != nil {
			return
		}
		if caps.Platen == nil && caps.ADFSimplex == nil && caps.ADFDuplex == nil {
			t.Fatal("capabilities without a source accepted")
		}
		_, _ = caps.Settings(escl.Profile{}, escl.Quirks{})
		_, _ = caps.Settings(escl.Profile{Source: escl.Feeder, Color: true}, escl.Quirks{MaxResolution: 300})
	})
}

func FuzzParseStatus(f *testing.F) {
	for _, m := range []string{"HP-LaserJet-MFP-M426fdn", "Kyocera-ECOSYS-M2040dn"} {
		f.Add(escltest.Fixture(f, m+"-ScannerStatus.xml"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := escl.ParseStatus(bytes.NewReader(data))
		if err != nil {
			return
		}
		if st.State == "" {
			t.Fatal("status without state accepted")
		}
	})
}

func FuzzParseSettings(f *testing.F) {
	f.Add(escl.Settings{Source: escl.Platen, ColorMode: escl.RGB24, Resolution: escl.Resolution{X: 300, Y: 300}, Format: "image/jpeg"}.Document())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = escl.ParseSettings(bytes.NewReader(data))
	})
}
