package doctor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"koffer/devices/ipp"
	"koffer/devices/ipp/ipptest"
)

// TestPrinterDownThenUp runs the printer check against a port where nothing listens (fail),
// then against a real ippeveprinter (ok).
func TestPrinterDownThenUp(t *testing.T) {
	opts := ipp.Options{RequestTimeout: 3 * time.Second}
	down := (&PrinterCheck{P: &IPPPrinter{URI: "ipp://localhost:1/ipp/print", Options: opts}}).Run(t.Context())
	assert.Equal(t, Fail, down.Status, down.Value)
	assert.NotEmpty(t, down.HintDE)

	p := ipptest.Start(t, ipptest.Options{})
	up := (&PrinterCheck{P: &IPPPrinter{URI: p.URI, Options: opts}}).Run(t.Context())
	assert.Equal(t, OK, up.Status, "%s %s", up.Code, up.Value)
	assert.Contains(t, up.Value, "idle")
}
