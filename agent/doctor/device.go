package doctor

import (
	"context"
	"fmt"
	"strings"
)

// PrinterState is what the printer check needs from an IPP printer (devices/ipp fills it).
type PrinterState struct {
	State      string   // printer-state: idle, processing, stopped
	Reasons    []string // printer-state-reasons, "none" when fine
	Media      string   // media-ready, empty when unknown
	Markers    []Marker // marker-names and marker-levels
	ValidateOK bool     // a Validate-Job was accepted
}

// Marker is one ink or toner supply with its level in percent (-1 unknown).
type Marker struct {
	Name  string
	Level int
}

// Printer is the printer as the check sees it.
type Printer interface {
	PrinterState(ctx context.Context) (PrinterState, error)
}

// PrinterCheck reports the printer's state, reasons, media and supplies.
type PrinterCheck struct{ P Printer }

var _ Check = (*PrinterCheck)(nil)

func (p *PrinterCheck) Name() string { return "printer" }

func (p *PrinterCheck) Run(ctx context.Context) Result {
	if p.P == nil {
		return fail("not configured", "printer.not-configured", "Kein Drucker eingerichtet. Bitte den Drucker im Kofferprofil eintragen.",
			"No printer in the kit profile.")
	}
	st, err := p.P.PrinterState(ctx)
	if err != nil {
		return deviceFail(err, "printer.unreachable", "Der Drucker antwortet nicht. Bitte einschalten und Kabel prüfen.",
			"The printer does not answer IPP; check power and cable.")
	}
	var parts []string
	parts = append(parts, st.State)
	reasons := make([]string, 0, len(st.Reasons))
	for _, r := range st.Reasons {
		if r != "" && r != "none" {
			reasons = append(reasons, r)
		}
	}
	if len(reasons) > 0 {
		parts = append(parts, "reasons "+strings.Join(reasons, ","))
	}
	if st.Media != "" {
		parts = append(parts, "media "+st.Media)
	}
	low := ""
	for _, m := range st.Markers {
		parts = append(parts, fmt.Sprintf("%s %d%%", m.Name, m.Level))
		if m.Level >= 0 && m.Level < 10 && low == "" {
			low = m.Name
		}
	}
	v := strings.Join(parts, ", ")
	for _, r := range reasons {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(r, "-error"), "-warning"), "-report")
		switch {
		case strings.HasSuffix(r, "-warning") || strings.HasSuffix(r, "-report"):
			continue
		case base == "media-empty" || base == "media-needed":
			return fail(v, "printer.media-empty", "Kein Papier im Drucker. Bitte Papier einlegen.", "The printer is out of paper.")
		case base == "marker-supply-empty" || base == "toner-empty":
			return fail(v, "printer.supply-empty", "Tinte oder Toner ist leer. Bitte die Patrone wechseln.", "A marker supply is empty; replace it.")
		case base == "media-jam":
			return fail(v, "printer.jam", "Papierstau. Bitte das Papier vorsichtig entfernen.", "Paper jam; clear it.")
		}
	}
	switch {
	case st.State == "stopped":
		return fail(v, "printer.stopped", "Der Drucker ist angehalten. Bitte Anzeige am Drucker prüfen und neu starten.",
			"The printer is stopped; read its panel and restart it.")
	case !st.ValidateOK:
		return warn(v, "printer.validate", "Der Drucker lehnt Testaufträge ab. Bitte die Technik informieren.",
			"Validate-Job was refused; the printer may not accept koffer's documents.")
	case low != "":
		return warn(v, "printer.supply-low", "Tinte oder Toner wird knapp. Bitte Ersatz bereitlegen.", "A marker supply is below 10 %.")
	case len(reasons) > 0:
		return warn(v, "printer.reasons", "Der Drucker meldet einen Hinweis. Bitte Anzeige am Drucker prüfen.", "The printer reports state reasons.")
	}
	return ok(v)
}

// ScannerState is what the scanner check needs from an eSCL scanner (devices/escl fills it).
type ScannerState struct {
	Model    string
	State    string // pwg:State: Idle, Processing, Testing, Stopped, Down
	ADFState string // scan:AdfState ("AdfJam" or "ScannerAdfJam"), empty without ADF
	// Problem is what the feeder state stands in the way of (a *devices.Error), if known.
	Problem error
}

// Scanner is the scanner as the check sees it.
type Scanner interface {
	ScannerState(ctx context.Context) (ScannerState, error)
}

// ScannerCheck reports the eSCL scanner status and its document feeder.
type ScannerCheck struct{ S Scanner }

var _ Check = (*ScannerCheck)(nil)

func (s *ScannerCheck) Name() string { return "scanner" }

func (s *ScannerCheck) Run(ctx context.Context) Result {
	if s.S == nil {
		return fail("not configured", "scanner.not-configured", "Kein Scanner eingerichtet. Bitte den Scanner im Kofferprofil eintragen.",
			"No scanner in the kit profile.")
	}
	st, err := s.S.ScannerState(ctx)
	if err != nil {
		return deviceFail(err, "scanner.unreachable", "Der Scanner antwortet nicht. Bitte einschalten und Kabel prüfen.",
			"The scanner does not answer eSCL; check power and cable.")
	}
	v := st.State
	if st.Model != "" {
		v = st.Model + ": " + v
	}
	if st.ADFState != "" {
		v += ", ADF " + st.ADFState
	}
	switch st.State {
	case "Idle", "Processing", "Testing":
	default:
		return fail(v, "scanner.down", "Der Scanner ist nicht bereit. Bitte aus- und wieder einschalten.", "The scanner is stopped or down; power-cycle it.")
	}
	switch strings.TrimPrefix(st.ADFState, "Scanner") {
	case "AdfJam":
		return deviceFail(withValue(st.Problem, v), "scanner.adf-jam", "Papierstau im Einzug. Bitte das Papier entfernen.", "ADF paper jam; clear it.")
	case "AdfHatchOpen":
		return warn(v, "scanner.adf-open", "Die Klappe des Einzugs ist offen. Bitte schließen.", "The ADF hatch is open.")
	}
	if st.Problem != nil {
		r := deviceFail(st.Problem, "scanner.adf", "Der Einzug meldet ein Problem. Bitte Papier prüfen.", "The document feeder reports a problem; the flatbed still works.")
		r.Status, r.Value = Warn, v
		return r
	}
	return ok(v)
}

// withValue keeps err's device code and hint but reports v as the measured value.
func withValue(err error, v string) error {
	if err == nil {
		return errorString(v)
	}
	return &valueErr{v: v, err: err}
}

type errorString string

func (e errorString) Error() string { return string(e) }

type valueErr struct {
	v   string
	err error
}

func (e *valueErr) Error() string { return e.v }
func (e *valueErr) Unwrap() error { return e.err }
