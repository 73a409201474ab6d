package ipp

import (
	"strings"

	"koffer/devices"
)

// Severity of a printer-state-reasons keyword, from its suffix (RFC 8011 5.4.12).
type Severity int

const (
	SeverityReport  Severity = iota // informational, "-report"
	SeverityWarning                 // printing goes on, "-warning"
	SeverityError                   // printing stops, "-error" or no suffix
)

// Reason is one printer-state-reasons keyword, explained for both audiences.
type Reason struct {
	Keyword  string   // without suffix, e.g. "media-empty"
	Severity Severity // from the suffix as the printer sent it
	Code     string   // stable technician code, e.g. "printer.media-empty"
	Hint     string   // plain German for the caseworker
}

// reasonText maps keywords (without suffix) to a code suffix and a German hint. Keywords not
// listed still get a code ("printer.<keyword>") and a generic hint.
var reasonText = map[string]struct{ code, hint string }{
	"media-empty":          {"media-empty", "Kein Papier im Drucker. Bitte Papier einlegen."},
	"media-needed":         {"media-empty", "Kein Papier im Drucker. Bitte Papier einlegen."},
	"media-low":            {"media-low", "Das Papier geht bald aus. Bitte Papier nachlegen."},
	"media-jam":            {"media-jam", "Papierstau. Bitte die Klappe öffnen, das Papier vorsichtig herausziehen und die Klappe schließen."},
	"input-tray-missing":   {"tray-missing", "Das Papierfach fehlt oder ist nicht ganz eingeschoben. Bitte das Fach einsetzen."},
	"door-open":            {"door-open", "Eine Klappe am Drucker ist offen. Bitte alle Klappen schließen."},
	"cover-open":           {"door-open", "Eine Klappe am Drucker ist offen. Bitte alle Klappen schließen."},
	"interlock-open":       {"door-open", "Eine Klappe am Drucker ist offen. Bitte alle Klappen schließen."},
	"toner-empty":          {"toner-empty", "Der Toner ist leer. Bitte die Tonerkartusche wechseln."},
	"toner-low":            {"toner-low", "Der Toner geht zur Neige. Bitte bald eine neue Kartusche bereitlegen."},
	"marker-supply-empty":  {"toner-empty", "Tinte oder Toner ist leer. Bitte die Patrone wechseln."},
	"marker-supply-low":    {"toner-low", "Tinte oder Toner geht zur Neige. Bitte bald Ersatz bereitlegen."},
	"marker-waste-full":    {"waste-full", "Der Resttonerbehälter ist voll. Bitte den Behälter wechseln."},
	"offline":              {"offline", "Der Drucker ist nicht bereit. Bitte einschalten und prüfen, ob das Kabel steckt."},
	"shutdown":             {"offline", "Der Drucker schaltet sich gerade aus. Bitte wieder einschalten."},
	"paused":               {"paused", "Der Drucker ist angehalten. Bitte am Drucker auf Fortsetzen drücken."},
	"moving-to-paused":     {"paused", "Der Drucker ist angehalten. Bitte am Drucker auf Fortsetzen drücken."},
	"spool-area-full":      {"spool-full", "Der Drucker hat keinen Platz für weitere Aufträge. Bitte kurz warten und erneut versuchen."},
	"output-area-full":     {"output-full", "Das Ausgabefach ist voll. Bitte die gedruckten Blätter herausnehmen."},
	"connecting-to-device": {"offline", "Der Drucker verbindet sich noch. Bitte kurz warten."},
	"other":                {"other", "Der Drucker meldet ein Problem. Bitte die Anzeige am Drucker prüfen."},
}

// ParseReason splits a printer-state-reasons keyword into keyword and severity and attaches
// the code and German hint.
func ParseReason(s string) Reason {
	r := Reason{Keyword: s, Severity: SeverityError}
	switch {
	case strings.HasSuffix(s, "-report"):
		r.Keyword, r.Severity = strings.TrimSuffix(s, "-report"), SeverityReport
	case strings.HasSuffix(s, "-warning"):
		r.Keyword, r.Severity = strings.TrimSuffix(s, "-warning"), SeverityWarning
	case strings.HasSuffix(s, "-error"):
		r.Keyword = strings.TrimSuffix(s, "-error")
	}
	if t, ok := reasonText[r.Keyword]; ok {
		r.Code, r.Hint = "printer."+t.code, t.hint
	} else {
		r.Code, r.Hint = "printer."+r.Keyword, "Der Drucker meldet ein Problem. Bitte die Anzeige am Drucker prüfen."
	}
	// Low supplies never stop printing, whatever suffix the printer chose.
	if r.Severity == SeverityError && (strings.HasSuffix(r.Keyword, "-low") || r.Keyword == "media-low") {
		r.Severity = SeverityWarning
	}
	return r
}

// Reasons parses every printer-state-reasons keyword of d.
func (d *Description) Reasons() []Reason {
	out := make([]Reason, 0, len(d.StateReasons))
	for _, s := range d.StateReasons {
		out = append(out, ParseReason(s))
	}
	return out
}

// Problem returns a *devices.Error when the printer cannot print now (a reason of error
// severity, stopped, or not accepting jobs), else nil. Warnings such as low toner are not
// problems; show them with Reasons.
func (d *Description) Problem() error {
	for _, r := range d.Reasons() {
		if r.Severity == SeverityError {
			return &devices.Error{Kind: devices.Printer, Code: r.Code, Hint: r.Hint, Err: errReason(r.Keyword)}
		}
	}
	if d.State == StateStopped {
		return &devices.Error{Kind: devices.Printer, Code: "printer.stopped",
			Hint: "Der Drucker ist angehalten. Bitte die Anzeige am Drucker prüfen und ihn wieder einschalten."}
	}
	if !d.AcceptingJobs {
		return &devices.Error{Kind: devices.Printer, Code: "printer.not-accepting",
			Hint: "Der Drucker nimmt gerade keine Aufträge an. Bitte kurz warten und erneut versuchen."}
	}
	return nil
}

type errReason string

func (e errReason) Error() string { return "printer-state-reasons: " + string(e) }
