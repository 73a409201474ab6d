package doctor

import (
	"context"
	"net/http"

	"koffer/devices/escl"
)

// ESCLScanner is the Scanner of a real eSCL scanner (network, or IPP-over-USB with Transport).
type ESCLScanner struct {
	BaseURL   string // e.g. http://192.168.8.20/eSCL
	Transport http.RoundTripper
}

var _ Scanner = (*ESCLScanner)(nil)

// ScannerState asks ScannerCapabilities and ScannerStatus (escl.Probe).
func (s *ESCLScanner) ScannerState(ctx context.Context) (ScannerState, error) {
	info, err := escl.Probe(ctx, s.Transport, s.BaseURL)
	if err != nil {
		return ScannerState{}, err
	}
	return ScannerState{Model: info.MakeAndModel, State: string(info.State), ADFState: string(info.ADF), Problem: info.Problem()}, nil
}
