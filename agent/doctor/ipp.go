package doctor

import (
	"context"
	"strings"

	"koffer/devices/ipp"
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
