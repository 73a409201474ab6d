package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"koffer/devices"
	"koffer/devices/ipp"
	"koffer/devices/usb"
)

// IPPPrinter is the Printer of a real IPP printer (network or IPP-over-USB).
type IPPPrinter struct {
	URI     string
	Options ipp.Options
}

var _ Printer = (*IPPPrinter)(nil)

// PrinterState asks Get-Printer-Attributes and a Validate-Job for a PDF.
func (p *IPPPrinter) PrinterState(ctx context.Context) (PrinterState, error) {
	c, err := ipp.New(p.URI, p.Options)
	if err != nil {
		return PrinterState{}, err
	}
	d, err := c.Describe(ctx)
	if err != nil {
		return PrinterState{}, err
	}
	st := PrinterState{State: d.State.String(), Reasons: d.StateReasons, Media: strings.Join(d.MediaReady, " ")}
	for _, m := range d.Markers {
		st.Markers = append(st.Markers, Marker{Name: m.Name, Level: m.Level})
	}
	format := "application/pdf"
	if !d.Supports(format) && len(d.Formats) > 0 {
		format = d.Formats[0]
	}
	st.ValidateOK = c.Validate(ctx, ipp.Job{Name: "koffer doctor", Format: format}) == nil
	return st, nil
}

// USBPrinter is the Printer of an IPP-over-USB printer with the given VID:PID: it claims the
// printer's 7/1/4 interfaces for the duration of one check.
type USBPrinter struct {
	ID             usb.ID
	RequestTimeout time.Duration // default 3 s
}

var _ Printer = (*USBPrinter)(nil)

func (p *USBPrinter) PrinterState(ctx context.Context) (PrinterState, error) {
	uctx, err := usb.NewContext()
	if err != nil {
		return PrinterState{}, fmt.Errorf("ipp-over-usb %s: %w", p.ID, err)
	}
	defer uctx.Close()
	timeout := p.RequestTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	devs, err := usb.OpenIPPDevices(uctx, usb.IPPOptions{TransferTimeout: timeout})
	defer func() {
		for _, d := range devs {
			_ = d.Close()
		}
	}()
	for _, d := range devs {
		if uint16(d.Vendor) == p.ID.Vendor && uint16(d.Product) == p.ID.Product {
			return (&IPPPrinter{URI: ipp.USBURI, Options: ipp.Options{Transport: d.Transport, RequestTimeout: timeout}}).PrinterState(ctx)
		}
	}
	if err != nil {
		return PrinterState{}, fmt.Errorf("ipp-over-usb %s: %w", p.ID, err)
	}
	return PrinterState{}, &devices.Error{Kind: devices.Printer, Code: "printer.not-found",
		Hint: "Der Drucker ist nicht angeschlossen. Bitte das USB-Kabel prüfen und den Drucker einschalten.",
		Err:  fmt.Errorf("no ipp-over-usb printer %s attached", p.ID)}
}
