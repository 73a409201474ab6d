// Package fingerprint captures flat fingerprints for the ID card application: the fingers and
// the order TR-03121 asks for, attempts and quality, the caseworker's decision, and the
// vocabulary reader drivers (subpackages, one per reader family) share.
package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"image"

	"koffer/devices"
	"koffer/devices/usb"
)

// Image is one capture as a reader delivers it: 8-bit gray, ridges dark, upright.
type Image struct {
	Gray *image.Gray
	// PPI is the scan resolution in pixels per inch (500 for the supported readers).
	PPI int
	// Swipe marks images assembled from a swipe sensor's strips.
	Swipe bool
}

// Reader captures one finger image. Capture blocks until a finger was scanned, the context
// ends, or the reader fails; it never returns a partial image.
type Reader interface {
	Capture(ctx context.Context) (*Image, error)
}

// Transport is the USB access a driver needs: every call bounded by its context.
// *usb.Device and *usb.Fake implement it.
type Transport interface {
	Control(ctx context.Context, rType, request uint8, value, index uint16, data []byte) (int, error)
	Read(ctx context.Context, addr uint8, buf []byte) (int, error)
	Write(ctx context.Context, addr uint8, data []byte) (int, error)
}

// Model is one supported reader: the family's driver handles all its siblings.
type Model struct {
	ID usb.ID
	// Release is the bcdDevice the family speaks to; 0 means any. Some vendors reuse an id
	// across firmware that speaks another protocol.
	Release uint16
	Name    string
	Family  string // driver subpackage: "upektc", "uru4000"
}

// Matches reports whether a device with id and release is this model.
func (m Model) Matches(id usb.ID, release uint16) bool {
	return m.ID == id && (m.Release == 0 || m.Release == release)
}

// Stable error codes for the technician. Each has a German hint for the caseworker.
const (
	CodeUnplugged   = "fingerprint.unplugged"
	CodeTimeout     = "fingerprint.timeout"
	CodeStall       = "fingerprint.stall"
	CodeBadFrame    = "fingerprint.bad-frame"   // CRC or framing broken
	CodeTruncated   = "fingerprint.truncated"   // shorter than the frame says
	CodeUnexpected  = "fingerprint.unexpected"  // a packet the protocol does not allow here
	CodeNoFinger    = "fingerprint.no-finger"   // no finger within the wait
	CodeRetry       = "fingerprint.retry"       // swipe too short, finger off-centre...
	CodeBadImage    = "fingerprint.bad-image"   // image header or size impossible
	CodeNotFound    = "fingerprint.not-found"   // no supported reader attached
	CodeAccess      = "fingerprint.access"      // no permission to open the reader
	CodeDevice      = "fingerprint.device"      // anything else the reader reports
	CodeProcedure   = "fingerprint.procedure"   // capture procedure misuse
	CodeUnsupported = "fingerprint.unsupported" // reader id known to no driver
)

var hints = map[string]string{
	CodeUnplugged:   "Der Fingerabdruckleser wurde getrennt. Bitte wieder anschließen und die Aufnahme wiederholen.",
	CodeTimeout:     "Der Fingerabdruckleser antwortet nicht. Bitte Kabel prüfen, Leser neu anschließen und erneut versuchen.",
	CodeStall:       "Der Fingerabdruckleser hat die Übertragung abgebrochen. Bitte Leser neu anschließen und erneut versuchen.",
	CodeBadFrame:    "Die Daten vom Fingerabdruckleser waren fehlerhaft. Bitte die Aufnahme wiederholen.",
	CodeTruncated:   "Die Daten vom Fingerabdruckleser waren unvollständig. Bitte die Aufnahme wiederholen.",
	CodeUnexpected:  "Der Fingerabdruckleser hat unerwartet geantwortet. Bitte Leser neu anschließen und erneut versuchen.",
	CodeNoFinger:    "Es wurde kein Finger erkannt. Bitte den Finger flach auflegen und erneut versuchen.",
	CodeRetry:       "Der Finger wurde nicht vollständig erfasst. Bitte den Finger mittig und gleichmäßig auflegen und erneut versuchen.",
	CodeBadImage:    "Das Bild vom Fingerabdruckleser war unbrauchbar. Bitte die Aufnahme wiederholen.",
	CodeNotFound:    "Kein Fingerabdruckleser gefunden. Bitte den Leser anschließen.",
	CodeAccess:      "Der Fingerabdruckleser kann nicht geöffnet werden. Bitte die Technik informieren.",
	CodeDevice:      "Der Fingerabdruckleser meldet einen Fehler. Bitte Leser neu anschließen und erneut versuchen.",
	CodeProcedure:   "Dieser Schritt ist bei der Fingerabdruckaufnahme nicht zulässig.",
	CodeUnsupported: "Dieser Fingerabdruckleser wird nicht unterstützt. Bitte die Technik informieren.",
}

// Fail returns the *devices.Error for code with its German hint, wrapping err.
func Fail(code string, err error) *devices.Error {
	return &devices.Error{Kind: devices.Fingerprint, Code: code, Hint: hints[code], Err: err}
}

// Failf is Fail with a formatted cause.
func Failf(code, format string, args ...any) *devices.Error {
	return Fail(code, fmt.Errorf(format, args...))
}

// TransferFail classifies a USB transfer error: unplug, timeout and stall get their own code,
// a cancelled context stays a cancellation, anything else is a device error. An error that
// already is a *devices.Error passes through.
func TransferFail(what string, err error) error {
	var de *devices.Error
	switch {
	case errors.As(err, &de):
		return err
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, usb.ErrUnplugged):
		return Fail(CodeUnplugged, fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, usb.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return Fail(CodeTimeout, fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, usb.ErrStall):
		return Fail(CodeStall, fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, usb.ErrNotFound):
		return Fail(CodeNotFound, fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, usb.ErrAccess):
		return Fail(CodeAccess, fmt.Errorf("%s: %w", what, err))
	}
	return Fail(CodeDevice, fmt.Errorf("%s: %w", what, err))
}

// IsCode reports whether err holds a *devices.Error with the given code.
func IsCode(err error, code string) bool {
	var de *devices.Error
	return errors.As(err, &de) && de.Code == code
}
