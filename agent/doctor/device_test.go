package doctor

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

type fakePrinter struct {
	st  PrinterState
	err error
}

var _ Printer = (*fakePrinter)(nil)

func (f *fakePrinter) PrinterState(context.Context) (PrinterState, error) { return f.st, f.err }

type fakeScanner struct {
	st  ScannerState
	err error
}

var _ Scanner = (*fakeScanner)(nil)

func (f *fakeScanner) ScannerState(context.Context) (ScannerState, error) { return f.st, f.err }

func TestPrinterCheck(t *testing.T) {
	fine := PrinterState{State: "idle", Reasons: []string{"none"}, Media: "iso_a4_210x297mm", ValidateOK: true,
		Markers: []Marker{{Name: "black", Level: 80}}}
	with := func(mod func(*PrinterState)) PrinterState {
		s := fine
		s.Markers = append([]Marker(nil), fine.Markers...)
		mod(&s)
		return s
	}
	tests := []struct {
		name string
		p    Printer
		want Status
		code string
	}{
		{name: "ready", p: &fakePrinter{st: fine}, want: OK},
		{name: "not configured", want: Fail, code: "printer.not-configured"},
		{name: "down", p: &fakePrinter{err: errors.New("dial tcp: connection refused")}, want: Fail, code: "printer.unreachable"},
		{name: "paper out", p: &fakePrinter{st: with(func(s *PrinterState) { s.State = "stopped"; s.Reasons = []string{"media-empty-error"} })}, want: Fail, code: "printer.media-empty"},
		{name: "toner empty", p: &fakePrinter{st: with(func(s *PrinterState) { s.Reasons = []string{"marker-supply-empty-error"} })}, want: Fail, code: "printer.supply-empty"},
		{name: "stopped", p: &fakePrinter{st: with(func(s *PrinterState) { s.State = "stopped" })}, want: Fail, code: "printer.stopped"},
		{name: "toner low", p: &fakePrinter{st: with(func(s *PrinterState) { s.Markers[0].Level = 5 })}, want: Warn, code: "printer.supply-low"},
		{name: "low warning reason", p: &fakePrinter{st: with(func(s *PrinterState) { s.Reasons = []string{"media-low-warning"} })}, want: Warn, code: "printer.reasons"},
		{name: "validate refused", p: &fakePrinter{st: with(func(s *PrinterState) { s.ValidateOK = false })}, want: Warn, code: "printer.validate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&PrinterCheck{P: tt.p}).Run(t.Context())
			assert.Equal(t, tt.want, r.Status, r.Value)
			assert.Equal(t, tt.code, r.Code)
			if tt.want != OK {
				assert.NotEmpty(t, r.HintDE)
				assert.NotEmpty(t, r.HintEN)
			}
		})
	}
}

func TestScannerCheck(t *testing.T) {
	tests := []struct {
		name  string
		s     Scanner
		want  Status
		code  string
		value string
	}{
		{name: "idle with adf", s: &fakeScanner{st: ScannerState{State: "Idle", ADFState: "ScannerAdfLoaded"}}, want: OK, value: "Idle, ADF ScannerAdfLoaded"},
		{name: "not configured", want: Fail, code: "scanner.not-configured"},
		{name: "unreachable", s: &fakeScanner{err: errors.New("timeout")}, want: Fail, code: "scanner.unreachable"},
		{name: "down", s: &fakeScanner{st: ScannerState{State: "Down"}}, want: Fail, code: "scanner.down", value: "Down"},
		{name: "jam", s: &fakeScanner{st: ScannerState{State: "Idle", ADFState: "ScannerAdfJam"}}, want: Fail, code: "scanner.adf-jam"},
		{name: "hatch open", s: &fakeScanner{st: ScannerState{State: "Idle", ADFState: "ScannerAdfHatchOpen"}}, want: Warn, code: "scanner.adf-open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&ScannerCheck{S: tt.s}).Run(t.Context())
			assert.Equal(t, tt.want, r.Status, r.Value)
			assert.Equal(t, tt.code, r.Code)
			assert.Contains(t, r.Value, tt.value)
		})
	}
}

func TestHangingDeviceIsBoundedByDeadline(t *testing.T) {
	hang := &hangingPrinter{}
	rep := Run(t.Context(), []Check{&PrinterCheck{P: hang}}, Options{Timeout: 100_000_000})
	r := resultOf(t, rep, "printer")
	assert.Equal(t, Fail, r.Status)
	// The device call honoured its context: with ctx.Err it reports unreachable; else the runner's timeout.
	assert.Contains(t, []string{"check.timeout", "printer.unreachable"}, r.Code)
}

type hangingPrinter struct{}

func (hangingPrinter) PrinterState(ctx context.Context) (PrinterState, error) {
	<-ctx.Done()
	return PrinterState{}, ctx.Err()
}
