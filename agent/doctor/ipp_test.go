package doctor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"koffer/devices/ipp"
	"koffer/devices/ipp/ipptest"
	"koffer/devices/usb"
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

// TestUSBPrinterAbsent: on a bus without the profile's printer the check fails with the
// printer's not-found code (or libusb's own error where there is no usbfs), never hangs.
func TestUSBPrinterAbsent(t *testing.T) {
	r := (&PrinterCheck{P: &USBPrinter{ID: usb.ID{Vendor: 0xfeed, Product: 0xbeef}}}).Run(t.Context())
	assert.Equal(t, Fail, r.Status, r.Value)
	assert.NotEmpty(t, r.HintDE)
	assert.Contains(t, r.Value, "feed:beef")
}
