package escl

import "koffer/devices"

// Stable codes of scanner failures, for the technician.
const (
	CodeUnreachable = "scanner.unreachable"
	CodeTimeout     = "scanner.timeout"
	CodeBusy        = "scanner.busy"
	CodeBadResponse = "scanner.bad-response"
	CodeUnsupported = "scanner.unsupported-settings"
	CodeADFEmpty    = "scanner.adf-empty"
	CodeADFJam      = "scanner.adf-jam"
	CodeADFOpen     = "scanner.adf-open"
	CodeNoSource    = "scanner.no-source"
	CodeNoDuplex    = "scanner.no-duplex"
	CodeNotESCL     = "scanner.not-escl"
	CodeMissingPage = "scanner.missing-pages"
	CodeNoPages     = "scanner.no-pages"
	CodeBadPage     = "scanner.bad-page"
	CodeJobFailed   = "scanner.job-failed"
	CodeCanceled    = "scanner.canceled"
)

var hints = map[string]string{
	CodeUnreachable: "Der Scanner ist nicht erreichbar. Bitte Kabel und Stromversorgung prüfen und den Scan neu starten.",
	CodeTimeout:     "Der Scanner antwortet nicht mehr. Bitte Scanner aus- und wieder einschalten und den Scan neu starten.",
	CodeBusy:        "Der Scanner ist gerade beschäftigt. Bitte kurz warten und den Scan erneut starten.",
	CodeBadResponse: "Der Scanner antwortet nicht wie erwartet. Bitte Scanner neu starten; hilft das nicht, die Technik verständigen.",
	CodeUnsupported: "Der Scanner kann mit diesen Einstellungen nicht scannen. Bitte die Technik verständigen.",
	CodeADFEmpty:    "Im Einzug liegt kein Papier. Bitte das Dokument mit der Schrift nach oben einlegen und erneut scannen.",
	CodeADFJam:      "Papierstau im Einzug. Bitte die Klappe öffnen, das Blatt vorsichtig entfernen und den Scan neu starten.",
	CodeADFOpen:     "Die Klappe des Einzugs ist offen. Bitte schließen und den Scan neu starten.",
	CodeNoSource:    "Dieser Scanner hat die gewählte Vorlage (Glas oder Einzug) nicht. Bitte die andere wählen.",
	CodeNoDuplex:    "Der Einzug dieses Scanners scannt nur einseitig. Bitte einseitig scannen und die Rückseiten einzeln einlegen.",
	CodeNotESCL:     "Unter der eingestellten Adresse antwortet kein Scanner. Bitte die Technik die Scanner-Adresse prüfen lassen.",
	CodeMissingPage: "Der Scanner hat weniger Seiten geliefert, als er gescannt hat. Bitte den Scan wiederholen.",
	CodeNoPages:     "Der Scanner hat keine Seite geliefert. Bitte Dokument einlegen und erneut scannen.",
	CodeBadPage:     "Eine gescannte Seite ist beschädigt. Bitte den Scan wiederholen.",
	CodeJobFailed:   "Der Scan wurde vom Scanner abgebrochen. Bitte Hinweise am Gerät prüfen und den Scan neu starten.",
	CodeCanceled:    "Der Scan wurde abgebrochen. Es wurde nichts gespeichert.",
}

// newError makes the *devices.Error of a scanner failure with its German hint.
func newError(code string, err error) *devices.Error {
	return &devices.Error{Kind: devices.Scanner, Code: code, Hint: hints[code], Err: err}
}

// HintFor returns the German hint for a code (empty for unknown codes).
func HintFor(code string) string { return hints[code] }
