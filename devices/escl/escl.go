// Package escl drives document scanners over eSCL (AirScan) on any http.RoundTripper: a
// network scanner over TCP or a USB scanner through IPP-over-USB. It reads the typed
// ScannerCapabilities and ScannerStatus, runs a scan job (ScanJobs, NextDocument until 404,
// DELETE to cancel) and recovers from the device behaviour known from the field (sane-airscan
// documents it): a broken host in Location, 503 while busy, 409 for unsupported settings, a
// delay wanted before NextDocument, 404/410 right after the job starts. Per-model quirks are
// data (quirks.json). Pages are streamed into one PDF by PDFWriter, a small writer of our own:
// pdfcpu and fpdf both build the whole document in memory before writing, so memory would grow
// with the page count.
package escl

import (
	"errors"
	"fmt"

	"koffer/devices"
)

// Error codes of scanner failures, stable for the technician.
const (
	CodeUnreachable = "scanner.unreachable"
	CodeADFEmpty    = "scanner.adf-empty"
	CodeJam         = "scanner.jam"
	CodeBusy        = "scanner.busy"
	CodeBadPage     = "scanner.bad-page"
	CodeBadAnswer   = "scanner.bad-answer"
	CodeUnsupported = "scanner.unsupported"
	CodeTimeout     = "scanner.timeout"
	CodeCoverOpen   = "scanner.cover-open"
)

var hints = map[string]string{
	CodeUnreachable: "Der Scanner antwortet nicht. Kabel und Stromversorgung prüfen, dann erneut scannen.",
	CodeADFEmpty:    "Papier in den Einzug legen und auf Weiter tippen.",
	CodeJam:         "Papierstau im Einzug. Klappe öffnen, Blatt vorsichtig entfernen und erneut scannen.",
	CodeBusy:        "Der Scanner ist beschäftigt. Einen Moment warten und erneut scannen.",
	CodeBadPage:     "Eine Seite kam fehlerhaft an. Bitte das Dokument erneut scannen.",
	CodeBadAnswer:   "Der Scanner antwortet unverständlich. Scanner aus- und wieder einschalten, dann erneut scannen.",
	CodeUnsupported: "Der Scanner kann diese Einstellung nicht. Andere Einstellung wählen oder die Technik fragen.",
	CodeTimeout:     "Der Scanner ist nicht fertig geworden. Scanner prüfen und erneut scannen.",
	CodeCoverOpen:   "Eine Klappe am Scanner ist offen. Klappe schließen und erneut scannen.",
}

// fail wraps err as a scanner *devices.Error with code and its German hint.
func fail(code string, err error) error {
	var de *devices.Error
	if errors.As(err, &de) {
		return err
	}
	return &devices.Error{Kind: devices.Scanner, Code: code, Hint: hints[code], Err: err}
}

func failf(code, format string, args ...any) error {
	return fail(code, fmt.Errorf(format, args...))
}
