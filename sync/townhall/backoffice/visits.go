package backoffice

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"koffer/sync/townhall"
	"koffer/sync/visit"
)

// Dwelling kinds of a register extract (BMG §18(1)).
var dwellings = []string{"alleinige Wohnung", "Hauptwohnung", "Nebenwohnung"}

type visitsData struct {
	Kits      []string
	Services  []struct{ ID, Name string }
	Dwellings []string
	Form      map[string]string
	Booked    map[string]bool
	Problems  map[string]string
	Columns   []string
}

func (s *Server) visitsData(r *http.Request) (visitsData, error) {
	fleet, err := s.th.Fleet(r.Context())
	if err != nil {
		return visitsData{}, err
	}
	d := visitsData{Services: services, Dwellings: dwellings, Form: map[string]string{"staatsangehoerigkeit": "DEU"},
		Booked: map[string]bool{}, Problems: map[string]string{}, Columns: csvColumns}
	for _, k := range fleet {
		if !k.Revoked() {
			d.Kits = append(d.Kits, k.ID)
		}
	}
	return d, nil
}

func (s *Server) visitsPage(w http.ResponseWriter, r *http.Request, ses *session) {
	d, err := s.visitsData(r)
	if err != nil {
		s.log.Error("fleet", "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Die Koffer können gerade nicht geladen werden. Bitte versuchen Sie es noch einmal.")
		return
	}
	s.render(w, r, ses, http.StatusOK, "visits.html", "Besuche buchen", d)
}

// formFieldsVisit are the booking form's fields with what a missing value means.
var formFieldsVisit = []struct{ Name, Missing string }{
	{"koffer", "Bitte wählen Sie den Koffer."},
	{"datum", "Bitte geben Sie das Datum an (TT.MM.JJJJ)."},
	{"uhrzeit", "Bitte geben Sie die Uhrzeit an (HH:MM)."},
	{"ort", "Bitte geben Sie den Ort des Besuchs an."},
	{"familienname", "Bitte geben Sie den Familiennamen an."},
	{"vornamen", "Bitte geben Sie die Vornamen an."},
	{"geburtsdatum", ""}, {"geburtsort", ""}, {"staatsangehoerigkeit", ""},
	{"strasse", ""}, {"hausnummer", ""}, {"postleitzahl", ""}, {"wohnort", ""}, {"wohnungsart", ""},
}

func (s *Server) bookVisit(w http.ResponseWriter, r *http.Request, ses *session) {
	d, err := s.visitsData(r)
	if err != nil {
		s.log.Error("fleet", "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Die Koffer können gerade nicht geladen werden. Bitte versuchen Sie es noch einmal.")
		return
	}
	row := map[string]string{}
	for _, f := range formFieldsVisit {
		v := strings.TrimSpace(r.PostFormValue(f.Name))
		d.Form[f.Name], row[f.Name] = v, v
		if v == "" && f.Missing != "" {
			d.Problems[f.Name] = f.Missing
		}
	}
	for _, sv := range r.PostForm["leistung"] {
		d.Booked[sv] = true
	}
	row["leistungen"] = strings.Join(r.PostForm["leistung"], " ")
	if len(r.PostForm["leistung"]) == 0 {
		d.Problems["leistung"] = "Bitte wählen Sie mindestens eine Leistung."
	}
	if !slices.Contains(d.Kits, row["koffer"]) {
		d.Problems["koffer"] = "Bitte wählen Sie einen Koffer aus der Liste."
	}
	var packs []visit.Pack
	if len(d.Problems) == 0 {
		packs, err = packsFromRows([]map[string]string{row})
		if err != nil {
			d.Problems["_"] = err.Error()
		}
	}
	if len(d.Problems) > 0 {
		s.renderError(w, r, ses, http.StatusUnprocessableEntity, "visits.html", "Besuche buchen", d, "Bitte prüfen Sie die markierten Angaben.")
		return
	}
	if !s.addPacks(w, r, ses, row["koffer"], packs, "visitBooked") {
		return
	}
	http.Redirect(w, r, "/besuche?ok=besuch", http.StatusSeeOther)
}

func (s *Server) importVisits(w http.ResponseWriter, r *http.Request, ses *session) {
	d, err := s.visitsData(r)
	if err != nil {
		s.log.Error("fleet", "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Die Koffer können gerade nicht geladen werden. Bitte versuchen Sie es noch einmal.")
		return
	}
	kit := r.PostFormValue("koffer")
	bad := func(msg string) {
		s.renderError(w, r, ses, http.StatusUnprocessableEntity, "visits.html", "Besuche buchen", d, msg)
	}
	if !slices.Contains(d.Kits, kit) {
		bad("Bitte wählen Sie den Koffer für die eingelesenen Termine.")
		return
	}
	f, _, err := r.FormFile("datei")
	if err != nil {
		bad("Bitte wählen Sie eine Datei aus dem Melderegister (CSV oder JSON).")
		return
	}
	data, err := io.ReadAll(io.LimitReader(f, visit.MaxSize+1))
	_ = f.Close()
	if err != nil || len(data) > visit.MaxSize {
		bad("Die Datei ist zu groß: ein Besuchstag hat höchstens 1 MB.")
		return
	}
	packs, err := ParseRegisterExport(data)
	if err != nil {
		bad(err.Error())
		return
	}
	if !s.addPacks(w, r, ses, kit, packs, "visitsImported") {
		return
	}
	http.Redirect(w, r, "/besuche?ok=import", http.StatusSeeOther)
}

// addPacks seals each pack to the kit; every pack was validated before the first is added.
func (s *Server) addPacks(w http.ResponseWriter, r *http.Request, ses *session, kit string, packs []visit.Pack, event string) bool {
	var encoded [][]byte
	for _, p := range packs {
		js, err := json.Marshal(p)
		if err == nil {
			_, err = visit.Parse(js) // the kit cannot ask back: never send what it cannot read
		}
		if err != nil {
			s.log.Warn("visitPackInvalid") // the error may quote a citizen's data
			s.fail(w, r, ses, http.StatusUnprocessableEntity, "Die Termine ergeben kein gültiges Besuchspaket. Bitte prüfen Sie Datum, Uhrzeit, Namen und bei Meldebescheinigungen die Registerdaten.")
			return false
		}
		encoded = append(encoded, js)
	}
	for i, js := range encoded {
		id, err := s.th.AddVisits(r.Context(), kit, js)
		if err != nil {
			s.log.Error("visitPackAdd", "kit", kit, "err", err)
			s.fail(w, r, ses, http.StatusInternalServerError, "Das Besuchspaket konnte nicht gespeichert werden. Bitte versuchen Sie es noch einmal.")
			return false
		}
		s.audit(r, ses.name, event, "", kit, fmt.Sprintf("%s; %d", id, len(packs[i].Appointments)))
	}
	return true
}

// csvColumns are the columns of a register export as CSV (header row required, ';' or ',').
var csvColumns = []string{"datum", "uhrzeit", "ort", "leistungen", "familienname", "vornamen", "geburtsdatum",
	"geburtsort", "staatsangehoerigkeit", "strasse", "hausnummer", "postleitzahl", "wohnort", "wohnungsart"}

// ParseRegisterExport reads appointments exported from the population register: a visit pack
// as JSON (the format of sync/visit), or CSV with the columns of csvColumns, one appointment a
// row, grouped into one pack per day. Errors are German and name the row.
func ParseRegisterExport(data []byte) ([]visit.Pack, error) {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if len(trimmed) == 0 {
		return nil, inputErr("Die Datei ist leer.")
	}
	if trimmed[0] == '{' {
		p, err := visit.Parse(trimmed)
		if err != nil {
			return nil, inputErr("Die JSON-Datei ist kein gültiges Besuchspaket.")
		}
		return []visit.Pack{*p}, nil
	}
	rd := csv.NewReader(bytes.NewReader(trimmed))
	if first, _, _ := bytes.Cut(trimmed, []byte("\n")); bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		rd.Comma = ';'
	}
	rd.FieldsPerRecord = -1
	records, err := rd.ReadAll()
	if err != nil {
		return nil, inputErr("Die CSV-Datei ist nicht lesbar (%s).", csvLine(err))
	}
	if len(records) < 2 {
		return nil, inputErr("Die CSV-Datei hat keine Termine (erste Zeile: Spaltennamen, dann ein Termin je Zeile).")
	}
	index := map[string]int{}
	for i, h := range records[0] {
		index[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, c := range csvColumns[:6] {
		if _, ok := index[c]; !ok {
			return nil, inputErr("Der CSV-Datei fehlt die Spalte %q.", c)
		}
	}
	var rows []map[string]string
	for n, rec := range records[1:] {
		row := map[string]string{"zeile": fmt.Sprint(n + 2)}
		for _, c := range csvColumns {
			if i, ok := index[c]; ok && i < len(rec) {
				row[c] = strings.TrimSpace(rec[i])
			}
		}
		rows = append(rows, row)
	}
	return packsFromRows(rows)
}

func csvLine(err error) string {
	if pe, ok := err.(*csv.ParseError); ok {
		return fmt.Sprintf("Zeile %d", pe.Line)
	}
	return "Format"
}

// packsFromRows turns booking rows (form or CSV) into one pack per day, checking each row.
func packsFromRows(rows []map[string]string) ([]visit.Pack, error) {
	byDay := map[string]*visit.Pack{}
	var days []string
	for _, row := range rows {
		where := ""
		if z := row["zeile"]; z != "" {
			where = "Zeile " + z + ": "
		}
		day, ok := parseDay(row["datum"])
		if !ok {
			return nil, inputErr("%sDas Datum %q ist ungültig (TT.MM.JJJJ).", where, row["datum"])
		}
		if _, err := time.Parse("15:04", row["uhrzeit"]); err != nil || len(row["uhrzeit"]) != 5 {
			return nil, inputErr("%sDie Uhrzeit %q ist ungültig (HH:MM).", where, row["uhrzeit"])
		}
		if row["ort"] == "" || row["familienname"] == "" || row["vornamen"] == "" {
			return nil, inputErr("%sOrt, Familienname und Vornamen werden gebraucht.", where)
		}
		var svcs []string
		for _, sv := range strings.FieldsFunc(strings.ToLower(row["leistungen"]), func(r rune) bool { return strings.ContainsRune(" ,+/|", r) }) {
			if !slices.Contains(visit.Services, sv) {
				return nil, inputErr("%sDie Leistung %q gibt es nicht.", where, sv)
			}
			svcs = append(svcs, sv)
		}
		if len(svcs) == 0 {
			return nil, inputErr("%sEs ist keine Leistung gebucht.", where)
		}
		birth := ""
		if row["geburtsdatum"] != "" {
			if birth, ok = parseDay(row["geburtsdatum"]); !ok {
				return nil, inputErr("%sDas Geburtsdatum %q ist ungültig (TT.MM.JJJJ).", where, row["geburtsdatum"])
			}
		}
		a := visit.Appointment{ID: uuid.Must(uuid.NewV7()).String(), Time: row["uhrzeit"], Place: row["ort"], Services: svcs,
			Person: visit.Person{FamilyName: row["familienname"], GivenNames: row["vornamen"], BirthDate: birth,
				BirthPlace: row["geburtsort"], Nationality: row["staatsangehoerigkeit"],
				Address: visit.Address{Street: row["strasse"], HouseNumber: row["hausnummer"], PostalCode: row["postleitzahl"], City: row["wohnort"]}}}
		if slices.Contains(svcs, "meldebescheinigung") {
			addr := strings.TrimSpace(fmt.Sprintf("%s %s, %s %s", row["strasse"], row["hausnummer"], row["postleitzahl"], row["wohnort"]))
			if birth == "" || row["geburtsort"] == "" || row["strasse"] == "" || row["wohnort"] == "" || !slices.Contains(dwellings, row["wohnungsart"]) {
				return nil, inputErr("%sFür eine Meldebescheinigung werden Geburtsdatum, Geburtsort, Anschrift und Wohnungsart (%s) aus dem Melderegister gebraucht.",
					where, strings.Join(dwellings, ", "))
			}
			a.Register = &visit.Extract{FamilyName: a.Person.FamilyName, GivenNames: a.Person.GivenNames, BirthDate: birth,
				BirthPlace: row["geburtsort"], Residences: []visit.Residence{{Address: addr, Dwelling: row["wohnungsart"]}}}
		}
		p := byDay[day]
		if p == nil {
			p = &visit.Pack{Version: visit.Version, Date: day}
			byDay[day] = p
			days = append(days, day)
		}
		p.Appointments = append(p.Appointments, a)
	}
	slices.Sort(days)
	out := make([]visit.Pack, 0, len(days))
	for _, d := range days {
		out = append(out, *byDay[d])
	}
	return out, nil
}

// parseDay accepts TT.MM.JJJJ (as staff type it) and JJJJ-MM-TT (as registers export it).
func parseDay(s string) (string, bool) {
	for _, layout := range []string{"02.01.2006", time.DateOnly} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.Format(time.DateOnly), true
		}
	}
	return "", false
}

// fleetView is one kit row of the fleet page.
type fleetView struct {
	townhall.KitStatus
	Silent     bool
	SilentDays int
	CertSoon   bool
	NeverSeen  bool
	// QueueKnown: the kit reported its outbox at least once; WaitingDays is the age of its
	// oldest waiting case, flagged (WaitingLong) after a week as the kit's doctor does.
	QueueKnown  bool
	WaitingDays int
	WaitingLong bool
}

// waitingLong is when a waiting case is flagged, as `koffer doctor` warns with queue.old.
const waitingLong = 7 * 24 * time.Hour

type fleetData struct {
	Kits     []fleetView
	FlagDays int
	Reasons  []string
}

var revokeReasons = []string{"verloren", "gestohlen", "außer Betrieb"}

func (s *Server) fleet(w http.ResponseWriter, r *http.Request, ses *session) {
	kits, err := s.th.Fleet(r.Context())
	if err != nil {
		s.log.Error("fleet", "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Die Koffer können gerade nicht geladen werden. Bitte versuchen Sie es noch einmal.")
		return
	}
	now := s.now()
	d := fleetData{FlagDays: int(s.opts.FlagAfter / (24 * time.Hour)), Reasons: revokeReasons}
	for _, k := range kits {
		v := fleetView{KitStatus: k, NeverSeen: k.LastContact.IsZero()}
		since := k.LastContact
		if since.IsZero() {
			since = k.EnrolledAt
		}
		v.SilentDays = int(now.Sub(since) / (24 * time.Hour))
		v.Silent = !k.Revoked() && now.Sub(since) > s.opts.FlagAfter
		v.CertSoon = !k.CertNotAfter.IsZero() && k.CertNotAfter.Sub(now) < 30*24*time.Hour
		v.QueueKnown = !k.QueueReportedAt.IsZero()
		if v.QueueKnown && k.QueueDepth > 0 && !k.OldestWaiting.IsZero() {
			v.WaitingDays = int(now.Sub(k.OldestWaiting) / (24 * time.Hour))
			v.WaitingLong = now.Sub(k.OldestWaiting) > waitingLong
		}
		d.Kits = append(d.Kits, v)
	}
	s.render(w, r, ses, http.StatusOK, "fleet.html", "Koffer", d)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, ses *session) {
	kit := r.PathValue("kit")
	reason := r.PostFormValue("grund")
	if !slices.Contains(revokeReasons, reason) || r.PostFormValue("bestaetigt") != "ja" {
		s.fail(w, r, ses, http.StatusUnprocessableEntity, "Bitte wählen Sie einen Grund und bestätigen Sie die Sperrung.")
		return
	}
	if err := s.th.RevokeKit(r.Context(), kit, ses.name, reason); err != nil {
		s.log.Error("revoke", "kit", kit, "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Der Koffer konnte nicht gesperrt werden. Bitte versuchen Sie es sofort noch einmal oder nutzen Sie „townhall kit revoke“.")
		return
	}
	http.Redirect(w, r, "/flotte?ok=gesperrt", http.StatusSeeOther)
}

func (s *Server) allowSealed(w http.ResponseWriter, r *http.Request, ses *session) {
	kit := r.PathValue("kit")
	if r.PostFormValue("bestaetigt") != "ja" {
		s.fail(w, r, ses, http.StatusUnprocessableEntity, "Bitte bestätigen Sie, dass der Koffer wieder in sicheren Händen ist.")
		return
	}
	if err := s.th.AllowSealedBeforeRevocation(r.Context(), kit, ses.name); err != nil {
		s.log.Error("allowSealed", "kit", kit, "err", err)
		s.fail(w, r, ses, http.StatusConflict, "Das ging nicht: der Koffer ist nicht gesperrt oder die Annahme ist schon erlaubt.")
		return
	}
	http.Redirect(w, r, "/flotte?ok=annehmen", http.StatusSeeOther)
}

type auditData struct{ Entries []townhall.AuditRecord }

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, ses *session) {
	log, err := s.th.TownhallAudit(r.Context(), 200)
	if err != nil {
		s.log.Error("audit", "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Das Protokoll kann gerade nicht geladen werden. Bitte versuchen Sie es noch einmal.")
		return
	}
	s.render(w, r, ses, http.StatusOK, "audit.html", "Protokoll", auditData{Entries: log})
}

// InputError is a problem with data staff supplied, in German, ready to show.
type InputError struct{ Message string }

func (e *InputError) Error() string { return e.Message }

func inputErr(format string, a ...any) error { return &InputError{Message: fmt.Sprintf(format, a...)} }
