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

// ScannerState asks ScannerCapabilities and ScannerStatus (escl.Describe, bounded by ctx).
func (s *ESCLScanner) ScannerState(ctx context.Context) (ScannerState, error) {
	info := escl.Describe(ctx, s.BaseURL, 0, escl.Options{Transport: s.Transport})
	if info.Err != nil {
		return ScannerState{}, info.Err
	}
	st := ScannerState{Model: info.MakeAndModel, State: string(info.State), ADFState: string(info.ADFState)}
	if p := info.Problem(); p != nil {
		st.Problem = p
	}
	return st, nil
}
