package doctor

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"koffer/devices/escl/escltest"
)

// TestScannerOnESCLServer runs the scanner check against the in-process eSCL scanner serving a
// real scanner's capabilities: ok with paper in the feeder, failed once the scanner is gone.
func TestScannerOnESCLServer(t *testing.T) {
	srv := httptest.NewServer(escltest.NewFromFixture(t, "HP-LaserJet-MFP-M426fdn", escltest.Behaviour{ADFPages: 3}))
	c := &ScannerCheck{S: &ESCLScanner{BaseURL: srv.URL + "/eSCL"}}
	r := c.Run(t.Context())
	assert.Equal(t, OK, r.Status, "%s %s", r.Code, r.Value)
	assert.Contains(t, r.Value, "Idle")
	assert.Contains(t, r.Value, "AdfLoaded")

	srv.Close()
	r = c.Run(t.Context())
	assert.Equal(t, Fail, r.Status, r.Value)
	assert.NotEmpty(t, r.Code)
	assert.NotEmpty(t, r.HintDE)
}
