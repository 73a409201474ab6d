package ipp

import (
	"context"
	"errors"

	"koffer/devices"
)

// USBURI is the printer-uri to use with an IPP-over-USB transport: the transport ignores the
// host, and IPP-over-USB printers answer on localhost.
const USBURI = "ipp://localhost/ipp/print"

// Status is one printer as `koffer devices` lists it.
type Status struct {
	URI         string
	Description *Description // nil when the printer did not answer
	Reasons     []Reason     // parsed printer-state-reasons
	Problem     error        // *devices.Error when it cannot print now (or did not answer), else nil
}

// Probe asks the printer at uri for its description and state, within the client's request
// timeout. It never fails: a printer that does not answer has Problem set.
func Probe(ctx context.Context, uri string, opts Options) Status {
	st := Status{URI: uri}
	c, err := New(uri, opts)
	if err != nil {
		st.Problem = &devices.Error{Kind: devices.Printer, Code: "printer.bad-uri",
			Hint: "Die Druckeradresse ist ungültig. Bitte die Einstellungen des Koffers prüfen.", Err: err}
		return st
	}
	d, err := c.Describe(ctx)
	if err != nil {
		var de *devices.Error
		if !errors.As(err, &de) {
			err = &devices.Error{Kind: devices.Printer, Code: "printer.unreachable",
				Hint: "Der Drucker ist nicht erreichbar. Bitte prüfen, ob er eingeschaltet und verbunden ist.", Err: err}
		}
		st.Problem = err
		return st
	}
	st.Description, st.Reasons, st.Problem = d, d.Reasons(), d.Problem()
	return st
}
