package backoffice

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"koffer/sync/packet"
	"koffer/sync/townhall"
)

type inboxData struct {
	Filter      inboxFilter
	Days        []string
	Kits        []string
	Caseworkers []string
	Services    []struct{ ID, Name string }
	Groups      []dayGroup
	Count       int
}

type inboxFilter struct {
	Day, Kit, Caseworker, Service string
	LateOnly                      bool
}

type dayGroup struct {
	Day   string
	Cases []townhall.CaseSummary
}

func (s *Server) inbox(w http.ResponseWriter, r *http.Request, ses *session) {
	q := r.URL.Query()
	f := inboxFilter{Day: q.Get("tag"), Kit: q.Get("koffer"), Caseworker: q.Get("bearbeitung"), Service: q.Get("leistung"), LateOnly: q.Get("nachmeldung") == "1"}
	all, err := s.th.Cases(r.Context(), townhall.CaseFilter{})
	if err != nil {
		s.log.Error("inbox", "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Der Posteingang kann gerade nicht geladen werden. Bitte versuchen Sie es in einer Minute noch einmal.")
		return
	}
	d := inboxData{Filter: f, Services: services}
	add := func(list *[]string, v string) {
		if v != "" && !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
	}
	// Newest day first: what came in today is what staff work on.
	for i := len(all) - 1; i >= 0; i-- {
		c := all[i]
		day := c.ReceivedAt.In(s.loc).Format("02.01.2006")
		add(&d.Days, day)
		add(&d.Kits, c.Kit)
		add(&d.Caseworkers, c.Caseworker)
		if (f.Day != "" && f.Day != day) || (f.Kit != "" && f.Kit != c.Kit) || (f.Caseworker != "" && f.Caseworker != c.Caseworker) ||
			(f.Service != "" && f.Service != c.Service) || (f.LateOnly && !c.Late) {
			continue
		}
		if n := len(d.Groups); n == 0 || d.Groups[n-1].Day != day {
			d.Groups = append(d.Groups, dayGroup{Day: day})
		}
		g := &d.Groups[len(d.Groups)-1]
		g.Cases = append(g.Cases, c)
		d.Count++
	}
	slices.Sort(d.Kits)
	slices.Sort(d.Caseworkers)
	s.render(w, r, ses, http.StatusOK, "inbox.html", "Posteingang", d)
}

// form is the part of form.json the case view reads; the rest is shown as the kit sent it.
type form struct {
	Attachments []struct {
		Part     string `json:"part"`
		Kind     string `json:"kind"`
		Finger   string `json:"finger"`
		Attempts int    `json:"attempts"`
		Quality  *int   `json:"quality"`
	} `json:"attachments"`
	FeeCents    int64  `json:"fee_cents"`
	FeeCurrency string `json:"fee_currency"`
}

type field struct{ Label, Value string }

type fingerView struct {
	Part     string
	Finger   string
	Attempts string
	Quality  string
	Images   []fingerImageView
	Problem  string
}

type fingerImageView struct {
	URL, Alt string
	Quality  string
}

type caseData struct {
	Case         townhall.CaseSummary
	Fields       []field
	Decisions    []field
	Scans        []packet.PartInfo
	Photos       []packet.PartInfo
	Signatures   []packet.PartInfo
	Fingers      []fingerView
	Deleted      []packet.PartInfo // fingerprints listed in the manifest but deleted here
	Audit        []townhall.AuditRecord
	CanHandOver  bool
	HandOverNote string
}

func (s *Server) caseView(w http.ResponseWriter, r *http.Request, ses *session) {
	id := r.PathValue("id")
	c, p, ok := s.loadCase(w, r, ses, id)
	if !ok {
		return
	}
	s.audit(r, ses.name, "caseViewed", id, c.Kit, "")
	d := caseData{Case: c, CanHandOver: s.opts.DropDir != "" || s.opts.HandoverURL != ""}
	if !d.CanHandOver {
		d.HandOverNote = "Für die Übergabe ist kein Ablageordner und keine Adresse eingerichtet. Bitte wenden Sie sich an die Administration."
	}
	var f form
	held := map[string]bool{}
	for _, part := range p.Parts {
		held[part.Name] = true
		if part.Kind == packet.KindForm {
			d.Fields = formFields(part.Data)
			_ = json.Unmarshal(part.Data, &f) // formFields already said if it is unreadable
		}
	}
	attempts := map[string]string{}
	quality := map[string]string{}
	for _, a := range f.Attachments {
		if a.Attempts > 0 {
			attempts[a.Part] = strconv.Itoa(a.Attempts)
		}
		if a.Quality != nil {
			quality[a.Part] = strconv.Itoa(*a.Quality)
		}
	}
	for _, pi := range p.Manifest.Parts {
		switch pi.Kind {
		case packet.KindScan:
			d.Scans = append(d.Scans, pi)
		case packet.KindPhoto:
			d.Photos = append(d.Photos, pi)
		case packet.KindSignature:
			d.Signatures = append(d.Signatures, pi)
		case packet.KindFingerprint:
			if !held[pi.Name] {
				d.Deleted = append(d.Deleted, pi)
				continue
			}
			fv := fingerView{Part: pi.Name, Finger: fingerName(pi.Finger), Attempts: orDash(attempts[pi.Name]), Quality: orDash(quality[pi.Name])}
			fv.Images, fv.Problem = s.fingerImages(id, pi.Name, p)
			d.Fingers = append(d.Fingers, fv)
			d.Decisions = append(d.Decisions, field{fingerName(pi.Finger),
				fmt.Sprintf("%s Versuch(e), Qualität %s", orDash(attempts[pi.Name]), orDash(quality[pi.Name]))})
		}
	}
	if f.FeeCents > 0 {
		d.Decisions = append(d.Decisions, field{"Gebühr", fmt.Sprintf("%d,%02d %s", f.FeeCents/100, f.FeeCents%100, orDash(f.FeeCurrency))})
	}
	if log, err := s.th.TownhallAudit(r.Context(), 500); err == nil {
		for _, e := range log {
			if e.CaseID == id && e.Event != "caseViewed" {
				d.Audit = append(d.Audit, e)
			}
		}
	}
	s.render(w, r, ses, http.StatusOK, "case.html", serviceName(c.Service)+" "+c.Number, d)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// loadCase fetches and opens a case, answering the request itself when it cannot.
func (s *Server) loadCase(w http.ResponseWriter, r *http.Request, ses *session, id string) (townhall.CaseSummary, *packet.Packet, bool) {
	c, err := s.th.CaseSummary(r.Context(), id)
	if errors.Is(err, townhall.ErrNotFound) {
		s.fail(w, r, ses, http.StatusNotFound, "Diesen Fall gibt es nicht. Bitte wählen Sie ihn im Posteingang aus.")
		return c, nil, false
	}
	if err != nil {
		s.log.Error("caseLookup", "case", id, "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Der Fall kann gerade nicht geladen werden. Bitte versuchen Sie es noch einmal.")
		return c, nil, false
	}
	p, err := s.th.OpenCase(r.Context(), id)
	if err != nil {
		s.log.Error("caseOpen", "case", id, "err", err)
		s.fail(w, r, ses, http.StatusInternalServerError, "Das Paket dieses Falls lässt sich nicht öffnen. Bitte melden Sie den Fall der Administration.")
		return c, nil, false
	}
	return c, p, true
}

func (s *Server) fingerImages(caseID, part string, p *packet.Packet) ([]fingerImageView, string) {
	if s.opts.Fingerprints == nil {
		return nil, "Die Bilder können hier nicht angezeigt werden (kein Leser für ISO/IEC 19794-4 eingerichtet)."
	}
	for _, pt := range p.Parts {
		if pt.Name != part {
			continue
		}
		imgs, err := s.opts.Fingerprints(pt.Data)
		if err != nil {
			s.log.Warn("fingerprintRender", "case", caseID, "err", err)
			return nil, "Der Fingerabdruck-Datensatz ist beschädigt und kann nicht angezeigt werden."
		}
		var out []fingerImageView
		for i, im := range imgs {
			q := "nicht gemessen"
			if im.Quality > 0 {
				q = strconv.Itoa(im.Quality)
			}
			out = append(out, fingerImageView{URL: fmt.Sprintf("/fall/%s/finger/%s/%d", caseID, part, i), Alt: "Fingerabdruck " + im.Finger, Quality: q})
		}
		return out, ""
	}
	return nil, "Der Datensatz fehlt."
}

func (s *Server) fingerImage(w http.ResponseWriter, r *http.Request, ses *session) {
	id, name := r.PathValue("id"), r.PathValue("part")
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || s.opts.Fingerprints == nil {
		http.NotFound(w, r)
		return
	}
	_, p, ok := s.loadCase(w, r, ses, id)
	if !ok {
		return
	}
	for _, pt := range p.Parts {
		if pt.Name == name && pt.Kind == packet.KindFingerprint {
			imgs, err := s.opts.Fingerprints(pt.Data)
			if err != nil || n < 0 || n >= len(imgs) {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(imgs[n].PNG)
			return
		}
	}
	http.NotFound(w, r)
}

// inlineTypes are the media types shown in the page; anything else is not served.
var inlineTypes = []string{"application/pdf", "image/png", "image/jpeg"}

func (s *Server) casePart(w http.ResponseWriter, r *http.Request, ses *session) {
	id, name := r.PathValue("id"), r.PathValue("part")
	_, p, ok := s.loadCase(w, r, ses, id)
	if !ok {
		return
	}
	for _, pt := range p.Parts {
		if pt.Name != name || pt.Kind == packet.KindForm || pt.Kind == packet.KindFingerprint {
			continue
		}
		ct := http.DetectContentType(pt.Data)
		if !slices.Contains(inlineTypes, ct) {
			s.fail(w, r, ses, http.StatusUnsupportedMediaType, "Diese Datei kann im Browser nicht angezeigt werden. Sie ist in der Übergabe an das Fachverfahren enthalten.")
			return
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", pt.Name))
		_, _ = w.Write(pt.Data)
		return
	}
	http.NotFound(w, r)
}

// fieldLabels name the case file's fields in German, in the order a caseworker reads them.
var fieldLabels = []field{
	{"person.family_name", "Familienname"}, {"person.given_names", "Vornamen"},
	{"person.birth_date", "Geburtsdatum"}, {"person.birth_place", "Geburtsort"},
	{"person.nationality", "Staatsangehörigkeit"},
	{"person.address.street", "Straße"}, {"person.address.house_number", "Hausnummer"},
	{"person.address.postal_code", "Postleitzahl"}, {"person.address.city", "Ort"},
	{"age", "Alter bei Antrag"}, {"applied_at", "Beantragt am"}, {"late", "Nachmeldung (Frist überschritten)"},
	{"details.height_cm", "Größe in cm"}, {"details.eye_color", "Augenfarbe"},
	{"details.photo_code", "Lichtbild vom Fotografen"}, {"details.provisional", "Vorläufiger Personalausweis"},
	{"details.fingerprints_impossible", "Fingerabdrücke nicht möglich"},
	{"details.insurer", "Versicherungsträger"}, {"details.reference", "Aktenzeichen"},
	{"details.extended", "Erweiterte Meldebescheinigung"}, {"details.move_in_date", "Einzugsdatum"},
	{"details.previous_address.street", "Bisherige Straße"}, {"details.previous_address.house_number", "Bisherige Hausnummer"},
	{"details.previous_address.postal_code", "Bisherige Postleitzahl"}, {"details.previous_address.city", "Bisheriger Ort"},
}

// hiddenFields are shown elsewhere on the page or mean nothing to staff.
var hiddenFields = []string{"attachments", "case_id", "kit_id", "service", "fee_cents", "fee_currency"}

// formFields flattens form.json into labelled rows: known fields first, in order, then any
// field this version does not know, under its own name, so nothing the kit sent is hidden.
func formFields(data []byte) []field {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return []field{{"Formulardaten", "nicht lesbar"}}
	}
	flat := map[string]string{}
	flatten("", m, flat)
	var out []field
	for _, l := range fieldLabels {
		if v, ok := flat[l.Label]; ok {
			if l.Label == "details.photo_code" { // a secret: URL and key of the photographer's cloud
				v = "vorhanden (wird vom Rathaus abgerufen)"
			}
			if strings.HasSuffix(l.Label, "_date") {
				if t, err := time.Parse(time.DateOnly, v); err == nil {
					v = t.Format("02.01.2006")
				}
			}
			if l.Label == "applied_at" {
				if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
					v = t.Format("02.01.2006, 15:04 Uhr UTC")
				}
			}
			out = append(out, field{l.Value, v})
			delete(flat, l.Label)
		}
	}
	var rest []string
	for k := range flat {
		hidden := false
		for _, h := range hiddenFields {
			if k == h || strings.HasPrefix(k, h+".") {
				hidden = true
			}
		}
		if !hidden {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		out = append(out, field{k, flat[k]})
	}
	return out
}

func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		for i, e := range x {
			flatten(fmt.Sprintf("%s.%d", prefix, i), e, out)
		}
	case bool:
		if x {
			out[prefix] = "ja"
		} else {
			out[prefix] = "nein"
		}
	case nil:
	case float64:
		out[prefix] = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		out[prefix] = fmt.Sprint(x)
	}
}

var fingerNames = map[string]string{
	"right_thumb": "rechter Daumen", "right_index": "rechter Zeigefinger", "right_middle": "rechter Mittelfinger",
	"right_ring": "rechter Ringfinger", "right_little": "rechter kleiner Finger",
	"left_thumb": "linker Daumen", "left_index": "linker Zeigefinger", "left_middle": "linker Mittelfinger",
	"left_ring": "linker Ringfinger", "left_little": "linker kleiner Finger",
}

func fingerName(f string) string {
	if n, ok := fingerNames[f]; ok {
		return n
	}
	return orDash(f)
}
