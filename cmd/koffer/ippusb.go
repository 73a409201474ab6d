package main

import (
	"fmt"
	"net/http"

	"koffer/devices"
	"koffer/devices/usb"
)

// notOnUSB is what the caseworker reads when no device of a kind answers on USB.
var notOnUSB = map[devices.Kind]string{
	devices.Printer: "Kein Drucker am USB-Anschluss gefunden. Bitte das Kabel prüfen und den Drucker einschalten.",
	devices.Scanner: "Kein Scanner am USB-Anschluss gefunden. Bitte das Kabel prüfen und den Scanner einschalten.",
}

// openIPPUSB opens every IPP-over-USB device (class 7/1/4, which printers and scanners share)
// and returns the first one's HTTP transport and a function that closes them all. kind is the
// device the caller is after, for the code and the German hint.
func openIPPUSB(kind devices.Kind) (http.RoundTripper, func(), error) {
	uctx, err := usb.NewContext()
	if err != nil {
		return nil, nil, errUSBUnavailable(kind, err)
	}
	devs, err := usb.OpenIPPDevices(uctx, usb.IPPOptions{})
	if len(devs) == 0 {
		uctx.Close()
		return nil, nil, &devices.Error{Kind: kind, Code: string(kind) + ".usb-not-found", Hint: notOnUSB[kind],
			Err: fmt.Errorf("no ipp-over-usb device: %v", err)}
	}
	closeAll := func() {
		for _, d := range devs {
			_ = d.Close()
		}
		uctx.Close()
	}
	return devs[0].Transport, closeAll, nil
}

func errUSBUnavailable(kind devices.Kind, err error) error {
	return &devices.Error{Kind: kind, Code: string(kind) + ".usb-unavailable",
		Hint: "USB ist auf diesem Gerät nicht verfügbar. Bitte den Technik-Support anrufen.", Err: err}
}
