package backoffice

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// page is what every template gets.
type page struct {
	Title string
	User  string
	Role  string
	Admin bool
	CSRF  string
	Path  string
	Flash string
	Error string
	Data  any
}

// flashes are the confirmations a redirect may carry (?ok=KEY), so no text travels in URLs.
var flashes = map[string]string{
	"uebergeben": "Der Fall wurde an das Fachverfahren übergeben.",
	"besuch":     "Der Termin ist gebucht. Der Koffer erhält das Besuchspaket bei der nächsten Verbindung.",
	"import":     "Die Termine sind eingelesen. Der Koffer erhält die Besuchspakete bei der nächsten Verbindung.",
	"gesperrt":   "Der Koffer ist gesperrt. Er wird ab sofort bei jeder Anfrage abgewiesen.",
	"annehmen":   "Der gesperrte Koffer darf nun Fälle zustellen, die er vor der Sperrung versiegelt hat. Jeder wird im Protokoll vermerkt.",
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, ses *session, status int, name, title string, data any) {
	s.renderError(w, r, ses, status, name, title, data, "")
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, ses *session, status int, name, title string, data any, msg string) {
	p := page{Title: title, Path: r.URL.Path, Data: data, Error: msg, Flash: flashes[r.URL.Query().Get("ok")]}
	if ses != nil {
		p.CSRF = ses.csrf
		if !ses.locked {
			p.User, p.Role, p.Admin = ses.name, RoleName(ses.role), adminOnly(ses.role)
		}
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.log.Error("renderFailed", "page", name, "err", err)
		http.Error(w, "Interner Fehler", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error page that says what to do next.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, ses *session, status int, msg string) {
	s.renderError(w, r, ses, status, "error.html", "Das hat nicht geklappt", nil, msg)
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "unbekannt"
			}
			return t.In(s.loc).Format("02.01.2006, 15:04 Uhr")
		},
		"day": func(t time.Time) string {
			if t.IsZero() {
				return "unbekannt"
			}
			return t.In(s.loc).Format("02.01.2006")
		},
		"service": serviceName,
		"event":   eventName,
		"args": func(d visitsData, name, label string) textField {
			return textField{D: d, Name: name, Label: label}
		},
		"orUnknown": func(v string) string {
			if strings.TrimSpace(v) == "" {
				return "unbekannt"
			}
			return v
		},
		"bytes": func(n int64) string {
			if n < 1<<20 {
				return fmt.Sprintf("%d KB", (n+1023)/1024)
			}
			return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
		},
	}
}

// services in the order staff know them; the case file's names map to German.
var services = []struct{ ID, Name string }{
	{"personalausweis", "Personalausweis"},
	{"lebensbescheinigung", "Lebensbescheinigung"},
	{"meldebescheinigung", "Meldebescheinigung"},
	{"wohnsitzanmeldung", "Wohnsitzanmeldung"},
}

func serviceName(id string) string {
	for _, s := range services {
		if s.ID == id {
			return s.Name
		}
	}
	return id
}

// textField is one text input of the booking form.
type textField struct {
	D           visitsData
	Name, Label string
}

// eventNames are the audit events as staff read them.
var eventNames = map[string]string{
	"loginSucceeded": "angemeldet", "loginFailed": "Anmeldung fehlgeschlagen", "loggedOut": "abgemeldet",
	"sessionLocked": "Sitzung gesperrt", "caseViewed": "Fall angesehen", "caseHandedOver": "an Fachverfahren übergeben",
	"caseHandoverFailed": "Übergabe fehlgeschlagen", "fingerprintsDeleted": "Fingerabdrücke gelöscht",
	"visitBooked": "Termin gebucht", "visitsImported": "Termine eingelesen", "kitAdded": "Koffer eingerichtet", "kitRevoked": "Koffer gesperrt", "kitAuditBroken": "Protokollkette eines Koffers unterbrochen",
	"staffAdded": "Zugang angelegt", "sealedBeforeRevocationAllowed": "Annahme vor der Sperrung versiegelter Fälle erlaubt",
	"caseExported":                "Fall auf der Kommandozeile ausgegeben (townhall inbox open)",
	"caseAcceptedAfterRevocation": "Fall eines gesperrten Koffers angenommen (vor der Sperrung versiegelt)",
}

func eventName(e string) string {
	if n, ok := eventNames[e]; ok {
		return n
	}
	return e
}
