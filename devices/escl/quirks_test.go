package escl_test

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
)

// asModel is a real capabilities document with another MakeAndModel, to exercise the
// built-in quirk entry of that model.
func asModel(t *testing.T, makeAndModel string) []byte {
	caps := escltest.Fixture(t, "HP-LaserJet-MFP-M426fdn-ScannerCapabilities.xml")
	return bytes.Replace(caps, []byte("HP LaserJet MFP M426fdn"), []byte(makeAndModel), 1)
}

// TestBuiltinQuirkEntries runs each entry of quirks.toml against a server that misbehaves the
// way that model does, once with the built-in table (must work) and once without (must not).
func TestBuiltinQuirkEntries(t *testing.T) {
	tests := []struct {
		name    string
		model   string
		b       escltest.Behaviour
		profile escl.Profile
		check   func(t *testing.T, srv *escltest.Server, err error)
		without string // error code when the quirk is switched off
	}{
		{name: "Canon iR2625/2630 scans no more than 300 dpi", model: "Canon iR2625/2630",
			b: escltest.Behaviour{Reject: []int{600, 1200}}, profile: escl.Profile{DPI: 600},
			check: func(t *testing.T, srv *escltest.Server, err error) {
				require.NoError(t, err)
				require.Len(t, srv.Posted(), 1, "no refused attempt: the quirk caps the resolution up front")
				assert.Equal(t, 300, srv.Posted()[0].Resolution.X)
			}},
		{name: "Canon MF410 never starts a job on an empty feeder", model: "MF410 Series",
			b: escltest.Behaviour{ADFEmpty: true}, profile: escl.Profile{Source: escl.Feeder},
			check: func(t *testing.T, srv *escltest.Server, err error) {
				assertCode(t, err, escl.CodeADFEmpty)
				assert.Zero(t, srv.Requests("POST ScanJobs"), "the job that would jam the device is never sent")
			}},
		{name: "HP M630 wants Host: localhost", model: "HP LaserJet MFP M630",
			b: escltest.Behaviour{JobHost: "localhost"}, without: escl.CodeBadResponse,
			check: func(t *testing.T, srv *escltest.Server, err error) { require.NoError(t, err) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := escltest.New(asModel(t, tt.model), tt.b)
			require.NoError(t, err)
			hs := httptest.NewServer(srv)
			defer hs.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()

			run := func(opts escl.Options) error {
				c, err := escl.New(hs.URL+"/eSCL", opts)
				require.NoError(t, err)
				caps, err := c.Capabilities(ctx)
				if err != nil {
					return err
				}
				assert.Equal(t, tt.model, caps.MakeAndModel)
				s, err := caps.Settings(tt.profile, c.Quirks())
				require.NoError(t, err)
				_, err = c.Scan(ctx, caps, s, func(p *escl.Page) error { _, err := io.Copy(io.Discard, p.Body); return err })
				return err
			}
			tt.check(t, srv, run(fastOptions()))
			if tt.without != "" {
				opts := fastOptions()
				opts.Quirks = &escl.Quirks{}
				assertCode(t, run(opts), tt.without)
			}
		})
	}
}
