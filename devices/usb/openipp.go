package usb

import (
	"fmt"
	"net/http"

	"github.com/google/gousb"

	"koffer/devices"
)

// notOnUSB is what the caseworker reads when no device of a kind answers on USB.
var notOnUSB = map[devices.Kind]string{
	devices.Printer: "Kein Drucker am USB-Anschluss gefunden. Bitte das Kabel prüfen und den Drucker einschalten.",
	devices.Scanner: "Kein Scanner am USB-Anschluss gefunden. Bitte das Kabel prüfen und den Scanner einschalten.",
}

// OpenIPP opens the IPP-over-USB devices (class 7/1/4, which printers and scanners share) and
// returns the HTTP transport of the one with id (zero id: the first one) and a function that
// closes everything opened. kind is the device the caller is after, for the error's code and
// German hint. Callers open per job and close after, so a device plugged in later is found.
func OpenIPP(kind devices.Kind, id ID, opts IPPOptions) (http.RoundTripper, func(), error) {
	uctx, err := NewContext()
	if err != nil {
		return nil, nil, Unavailable(kind, err)
	}
	devs, err := OpenIPPDevices(uctx, opts)
	closeAll := func() {
		for _, d := range devs {
			_ = d.Close()
		}
		uctx.Close()
	}
	for _, d := range devs {
		if id == (ID{}) || (d.Vendor == gousb.ID(id.Vendor) && d.Product == gousb.ID(id.Product)) {
			return d.Transport, closeAll, nil
		}
	}
	closeAll()
	what := "no ipp-over-usb device"
	if id != (ID{}) {
		what = "no ipp-over-usb device " + id.String()
	}
	return nil, nil, &devices.Error{Kind: kind, Code: string(kind) + ".usb-not-found", Hint: notOnUSB[kind],
		Err: fmt.Errorf("%s: %v", what, err)}
}

// Unavailable is the error of a machine where libusb cannot start.
func Unavailable(kind devices.Kind, err error) error {
	return &devices.Error{Kind: kind, Code: string(kind) + ".usb-unavailable",
		Hint: "USB ist auf diesem Gerät nicht verfügbar. Bitte den Technik-Support anrufen.", Err: err}
}
