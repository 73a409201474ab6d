package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"koffer/agent/cases"
	"koffer/agent/casework"
	"koffer/agent/documents"
	"koffer/devices"
)

// page is everything a template may show.
type page struct {
	Title    string
	CSRF     string
	User     Caseworker
	Flash    string
	Error    string
	Now      time.Time
	Overview *Overview
	Tech     *TechReport
	Drafts   []CaseSummary
	Flows    []Flow

	// Login and lock screens.
	LoginName string
	Locked    bool
	Demo      *DemoLogin // training kits only

	// Steps.
	Flow      Flow
	Step      Step
	StepNo    int
	Case      *Case
	Values    map[string]string
	Errors    map[string]string
	Key       string
	Hands     []cases.HandState
	NoFingers bool // under the fingerprint age
	Prev      string
	Device    string // German hint of a device failure
	Summary   []summaryGroup
	Restored  bool
	Prefilled bool   // a field of this step came from the visit pack
	Intro     string // the step's instruction: from the flow, or from the age rules
}

type fieldCtx struct {
	F      FieldDef
	Values map[string]string
	Errors map[string]string
}

type summaryGroup struct {
	Step   Step
	Fields []Field
	// Preview is the part whose stored image the summary shows (the photo, the signature).
	Preview, PreviewAlt string
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	if sess := sessionOf(r); sess != nil {
		p.CSRF, p.User = sess.csrf, sess.caseworker
	}
	if p.Now.IsZero() {
		p.Now = s.opts.Now()
	}
	if name == "login" {
		p.Demo = s.opts.DemoLogin
	}
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, p); err != nil {
		s.log.Error("renderFailed", "template", name, "err", err)
		http.Error(w, "Die Seite konnte nicht angezeigt werden. Bitte neu laden.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows a German error page for an unexpected backend error; details go to the log only.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if sess := sessionOf(r); errors.Is(err, ErrLocked) && sess != nil {
		s.sessions.update(sess.id, func(ss *session) {
			ss.locked, ss.outcome = true, nil
			if r.Method == http.MethodGet {
				ss.resume = r.URL.RequestURI()
			}
		})
		http.Redirect(w, r, "/gesperrt", http.StatusSeeOther)
		return
	}
	if errors.Is(err, ErrDatabaseDamaged) {
		// A refusal, not a fault of the request: say what still works and whom to call.
		s.log.Warn("refusedDatabaseDamaged", "what", what, "path", r.URL.Path)
		s.render(w, r, http.StatusServiceUnavailable, "error", &page{Title: "Datenbank beschädigt", Error: casework.DamagedHint})
		return
	}
	s.log.Error("requestFailed", "what", what, "path", r.URL.Path, "err", err)
	s.render(w, r, http.StatusInternalServerError, "error", &page{
		Title: "Das hat nicht geklappt",
		Error: "Ein interner Fehler ist aufgetreten. Ihre gespeicherten Eingaben sind nicht verloren. Bitte zur Startseite gehen und den Vorgang fortsetzen.",
	})
}

// revoked reports whether the town hall revoked this kit (the start page's uplink code): the
// login and lock pages then say so before anyone tries.
func (s *Server) revoked(ctx context.Context) bool {
	ov, err := s.opts.Backend.Overview(ctx)
	return err == nil && ov.Uplink.Code == "uplink.revoked"
}

// revokedText is what the login and lock pages say on a revoked kit.
const revokedText = "Dieser Bürgerkoffer wurde vom Rathaus gesperrt (uplink.revoked), weil er als verloren oder gestohlen gemeldet ist. " +
	"Anmelden ist nicht mehr möglich; die Schlüssel für Entwürfe und Besuchslisten sind gelöscht. " +
	"Bitte den Koffer ausgeschaltet beim Rathaus abgeben."

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.get(r)
	if sess != nil && sess.loggedIn() {
		if sess.locked {
			http.Redirect(w, r, "/gesperrt", http.StatusSeeOther)
		} else {
			http.Redirect(w, r, "/", http.StatusSeeOther)
		}
		return
	}
	now := s.opts.Now()
	s.sessions.expire(now, time.Hour)
	if sess == nil {
		sess = s.sessions.create(now)
		s.setCookie(w, sess)
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess))
	p := &page{Title: "Anmelden"}
	if r.URL.Query().Get("abgelaufen") == "1" {
		p.Error = "Die Sitzung ist abgelaufen, zum Beispiel nach einem Neustart des Koffers. Bitte neu anmelden. Die zuletzt abgeschickten Angaben wurden nicht übernommen; alles vorher Gespeicherte ist erhalten."
	}
	if s.revoked(r.Context()) {
		p.Error = revokedText
	}
	s.render(w, r, http.StatusOK, "login", p)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	cw, err := s.opts.Backend.Login(r.Context(), name, r.PostFormValue("passphrase"))
	if err != nil {
		status, msg, logIt := loginRefusal(err, "Name oder Passphrase stimmt nicht. Bitte erneut eingeben.")
		if logIt {
			s.log.Error("loginFailed", "err", err)
			msg = "Die Anmeldung ist gerade nicht möglich. Bitte erneut versuchen."
		}
		s.render(w, r, status, "login", &page{Title: "Anmelden", Error: msg, LoginName: name})
		return
	}
	now := s.opts.Now()
	sess = s.sessions.rotate(sess.id)
	sess = s.sessions.update(sess.id, func(ss *session) {
		ss.caseworker, ss.locked, ss.lastSeen = cw, false, now
	})
	s.setCookie(w, sess)
	s.log.Info("loggedIn")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r)
	if sess.loggedIn() {
		s.lockBackend(r.Context(), sess.caseworker.Name)
	}
	s.sessions.drop(sess.id)
	s.clearCookie(w)
	http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
}

func (s *Server) lockNow(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r)
	back := r.PostFormValue("zurueck")
	if !localPath(back) {
		back = "/"
	}
	s.sessions.update(sess.id, func(ss *session) { ss.locked, ss.resume, ss.outcome = true, back, nil })
	s.lockBackend(r.Context(), sess.caseworker.Name)
	http.Redirect(w, r, "/gesperrt", http.StatusSeeOther)
}

// localPath reports whether p is a path on this server (no open redirect).
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.Contains(p, "\\")
}

func (s *Server) lockedForm(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.get(r)
	if sess == nil || !sess.loggedIn() {
		http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
		return
	}
	if !s.idleCheck(r.Context(), sess.id) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if back := r.URL.Query().Get("zurueck"); sess.resume == "" && localPath(back) && !strings.HasPrefix(back, "/gesperrt") {
		s.sessions.update(sess.id, func(ss *session) { ss.resume = back })
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess))
	p := &page{Title: "Gesperrt", Locked: true}
	if s.revoked(r.Context()) {
		p.Error = revokedText
	}
	s.render(w, r, http.StatusOK, "locked", p)
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r)
	if !sess.loggedIn() {
		http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
		return
	}
	if _, err := s.opts.Backend.Login(r.Context(), sess.caseworker.Name, r.PostFormValue("passphrase")); err != nil {
		status, msg, logIt := loginRefusal(err, "Die Passphrase stimmt nicht. Bitte erneut eingeben.")
		if logIt {
			s.log.Error("unlockFailed", "err", err)
			status, msg = http.StatusUnauthorized, "Entsperren ist gerade nicht möglich. Bitte erneut versuchen."
		}
		s.render(w, r, status, "locked", &page{Title: "Gesperrt", Locked: true, Error: msg})
		return
	}
	now := s.opts.Now()
	sess = s.sessions.rotate(sess.id)
	sess = s.sessions.update(sess.id, func(ss *session) { ss.locked, ss.lastSeen = false, now })
	s.setCookie(w, sess)
	back := sess.resume
	if back == "" {
		back = "/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	ov, err := s.opts.Backend.Overview(r.Context())
	if err != nil {
		s.fail(w, r, "overview", err)
		return
	}
	drafts, err := s.opts.Backend.Drafts(r.Context())
	if err != nil {
		s.fail(w, r, "drafts", err)
		return
	}
	p := &page{Title: "Start", Overview: &ov, Drafts: drafts, Flows: Flows}
	switch q := r.URL.Query(); {
	case q.Get("fertig") != "":
		p.Flash = "Der Vorgang ist versiegelt und wartet auf die Übertragung ins Rathaus."
	case q.Get("verworfen") == "1":
		p.Flash = "Der Vorgang ist verworfen. Seine Angaben und Anlagen sind gelöscht."
	case q.Get("verworfen") == "grund":
		p.Error = "Bitte einen Grund für das Verwerfen wählen. Der Vorgang ist nicht verworfen."
	}
	s.render(w, r, http.StatusOK, "start", p)
}

// discardCase discards a draft for the reason chosen on the start page and goes back there.
func (s *Server) discardCase(w http.ResponseWriter, r *http.Request) {
	err := s.opts.Backend.DiscardDraft(r.Context(), r.PathValue("id"), sessionOf(r).caseworker.Name, r.PostFormValue("grund"))
	var ve *ValidationError
	switch {
	case err == nil:
		s.log.Info("draftDiscarded")
		http.Redirect(w, r, "/?verworfen=1", http.StatusSeeOther)
	case errors.As(err, &ve):
		http.Redirect(w, r, "/?verworfen=grund", http.StatusSeeOther)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrSealed):
		http.Redirect(w, r, "/", http.StatusSeeOther) // discarded or sealed meanwhile
	default:
		s.fail(w, r, "discard", err)
	}
}

func (s *Server) statusFragment(w http.ResponseWriter, r *http.Request) {
	if s.idleCheck(r.Context(), sessionOf(r).id) {
		w.Header().Set("X-Koffer-Gesperrt", "1")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	ov, err := s.opts.Backend.Overview(r.Context())
	if err != nil {
		s.log.Error("overviewFailed", "err", err)
		http.Error(w, "Status nicht verfügbar.", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := s.pages["status"].ExecuteTemplate(&buf, "status", &page{Overview: &ov, Now: s.opts.Now()}); err != nil {
		s.log.Error("renderFailed", "template", "status", "err", err)
		http.Error(w, "Status nicht verfügbar.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// events is the server-sent event stream: "status" when devices, queue or uplink change,
// "gesperrt" when the session locks. The browser reconnects by itself and then refreshes, so
// no change is lost across a reconnect.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	ch := s.opts.Backend.Subscribe(ctx)
	tick := time.NewTicker(s.opts.Tick)
	defer tick.Stop()
	send := func(event, data string) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("bereit", "1") {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if !send("status", ev.Kind) {
				return
			}
		case <-tick.C:
			if s.idleCheck(ctx, sess.id) {
				send("gesperrt", "1")
				return
			}
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func (s *Server) createCase(w http.ResponseWriter, r *http.Request) {
	svc := Service(r.PostFormValue("service"))
	flow, ok := FlowOf(svc)
	if !ok {
		s.render(w, r, http.StatusBadRequest, "error", &page{Title: "Unbekannte Leistung", Error: "Diese Leistung gibt es nicht. Bitte auf der Startseite wählen."})
		return
	}
	c, err := s.opts.Backend.CreateCase(r.Context(), sessionOf(r).caseworker.Name, svc, r.PostFormValue("visit"), flow.Steps[0].Name)
	var ve *ValidationError
	if errors.As(err, &ve) {
		// e.g. a Meldebescheinigung without a booked visit: the backend says why, in German.
		s.render(w, r, http.StatusUnprocessableEntity, "error", &page{Title: flow.Title + ": so nicht möglich", Error: ve.Fields[""]})
		return
	}
	if err != nil {
		s.fail(w, r, "createCase", err)
		return
	}
	http.Redirect(w, r, "/vorgang/"+url.PathEscape(c.ID), http.StatusSeeOther)
}

func (s *Server) loadCase(w http.ResponseWriter, r *http.Request) (*Case, Flow, bool) {
	c, err := s.opts.Backend.Case(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		s.render(w, r, http.StatusNotFound, "error", &page{Title: "Vorgang nicht gefunden", Error: "Diesen Vorgang gibt es nicht (mehr). Offene Vorgänge stehen auf der Startseite."})
		return nil, Flow{}, false
	}
	if err != nil {
		s.fail(w, r, "loadCase", err)
		return nil, Flow{}, false
	}
	f, ok := FlowOf(c.Service)
	if !ok {
		s.fail(w, r, "flow", fmt.Errorf("no flow for service %q", c.Service))
		return nil, Flow{}, false
	}
	return c, f, true
}

func stepURL(c *Case, step string) string {
	return "/vorgang/" + url.PathEscape(c.ID) + "/" + url.PathEscape(step)
}

func (s *Server) resumeCase(w http.ResponseWriter, r *http.Request) {
	c, f, ok := s.loadCase(w, r)
	if !ok {
		return
	}
	step := c.Step
	if c.State != "draft" || f.StepIndex(step) < 0 {
		step = f.Steps[len(f.Steps)-1].Name
		if f.StepIndex(c.Step) < 0 && c.State == "draft" {
			step = f.Steps[0].Name
		}
	}
	http.Redirect(w, r, stepURL(c, step), http.StatusSeeOther)
}

func (s *Server) showStep(w http.ResponseWriter, r *http.Request) {
	c, f, ok := s.loadCase(w, r)
	if !ok {
		return
	}
	p := &page{}
	if r.URL.Query().Get("ok") == "1" {
		p.Flash = "Gespeichert."
	}
	status := http.StatusOK
	if sess := sessionOf(r); sess.outcome != nil {
		if o := sess.outcome; o.path == r.URL.Path && r.URL.Query().Get("fehler") == "1" {
			status, p.Values, p.Errors, p.Error, p.Device = o.status, o.values, o.errors, o.msg, o.device
		} else {
			s.sessions.update(sess.id, func(ss *session) { ss.outcome = nil })
		}
	}
	if sess := sessionOf(r); sess.pending != nil && sess.pending.path == r.URL.Path {
		s.sessions.update(sess.id, func(ss *session) { ss.pending = nil })
		p.Values = map[string]string{}
		for k, v := range sess.pending.values {
			if len(v) > 0 {
				p.Values[k] = v[0]
			}
		}
		p.Restored = true
	}
	s.showStepPage(w, r, status, c, f, r.PathValue("step"), p)
}

func (s *Server) showStepPage(w http.ResponseWriter, r *http.Request, status int, c *Case, f Flow, name string, p *page) {
	if c.State != "draft" {
		s.render(w, r, status, "done", &page{Title: f.Title, Flow: f, Case: c})
		return
	}
	i := f.StepIndex(name)
	if i < 0 || i > f.StepIndex(c.Step) && f.StepIndex(c.Step) >= 0 {
		// Unknown step, or one the case has not reached yet: go where the case stands.
		http.Redirect(w, r, "/vorgang/"+url.PathEscape(c.ID), http.StatusSeeOther)
		return
	}
	step := f.Steps[i]
	values := formValues(f, c)
	for k, v := range c.Unsaved[step.Name] {
		values[k] = v // ticks and choices kept with a device action
	}
	for k, v := range p.Values {
		values[k] = v
	}
	p.Title, p.Flow, p.Step, p.StepNo, p.Case, p.Values = step.Title, f, step, i+1, c, values
	p.Key, p.Prev = newToken(), f.PrevStep(name)
	if step.Kind == KindFingers {
		p.Hands = c.Capture.Hands()
		p.NoFingers = c.NoFingers
	}
	if step.Kind == KindSummary {
		p.Summary = summarize(f, c)
	}
	p.Intro = step.Intro
	switch {
	case step.Kind == KindFingers && c.FingerNote != "":
		p.Intro = c.FingerNote
	case step.Kind == KindSignature && c.SignatureNote != "":
		p.Intro = c.SignatureNote
	}
	for _, fd := range step.Fields {
		if slices.Contains(c.Prefilled, fd.Path) {
			p.Prefilled = true
		}
	}
	if p.Restored {
		p.Flash = "Ihre Eingaben von vor der Sperre sind wiederhergestellt. Bitte prüfen und absenden."
	}
	s.render(w, r, status, "step", p)
}

func summarize(f Flow, c *Case) []summaryGroup {
	var out []summaryGroup
	for _, st := range f.Steps {
		g := summaryGroup{Step: st}
		for _, fd := range st.Fields {
			v := c.Values[fd.Key()]
			if v == "" {
				continue
			}
			if fd.Type == "date" {
				v = deDate(v)
			}
			for _, o := range fd.Options {
				if o.Value == v && o.Label != "Ja" {
					v = o.Label
				}
			}
			if fd.Type == "checkbox" {
				v = "Ja"
			}
			if fd.Path == "details.photo_code" {
				v = "erfasst (vertraulich, wird versiegelt)" // the code holds the photo's decryption key
			}
			g.Fields = append(g.Fields, Field{Label: fd.Label, Value: v})
		}
		switch st.Kind {
		case KindFingers:
			for _, h := range c.Capture.Hands() {
				g.Fields = append(g.Fields, Field{Label: HandName(h.Hand), Value: handSummary(h)})
			}
		case KindSignature:
			v := "Unterschrift erfasst"
			switch reason := c.Values[waiverReason.Path]; {
			case reason != "":
				v = "Keine Unterschrift, Verzicht: " + reason
			case !c.Signed:
				v = "Keine Unterschrift"
			case c.Files[casework.PartSignature] > 0:
				g.Preview, g.PreviewAlt = casework.PartSignature, "Die erfasste Unterschrift"
			}
			g.Fields = append(g.Fields, Field{Label: "Unterschrift", Value: v})
		case KindPhoto:
			if c.Files[casework.PartPhoto] > 0 {
				g.Fields = append(g.Fields, Field{Label: "Lichtbild", Value: "aufgenommen durch die Behörde, geprüft und zugeschnitten (35 × 45 mm)"})
				g.Preview, g.PreviewAlt = casework.PartPhoto, "Das aufgenommene Lichtbild"
			}
		case KindScan:
			if n := c.Scans[st.Part]; n > 0 {
				g.Fields = append(g.Fields, Field{Label: "Gescannt", Value: fmt.Sprintf("%d Seite(n)", n)})
			}
		case KindFee:
			g.Fields = append([]Field{{Label: "Gebühr", Value: c.Fee}}, g.Fields...)
		}
		if len(g.Fields) > 0 {
			out = append(out, g)
		}
	}
	return out
}

func handSummary(h cases.HandState) string {
	out := handResult(h)
	for _, d := range h.Skipped {
		out += "; " + FingerName(d.Finger) + " übersprungen: " + reasonLabel(d.Reason)
	}
	return out
}

func handResult(h cases.HandState) string {
	switch h.Status {
	case cases.HandCaptured:
		s := fmt.Sprintf("%s erfasst, Qualität %d", FingerName(h.Finger), h.Best)
		if h.Operator {
			s += " (unter dem Schwellwert, Entscheidung der Sachbearbeitung)"
		}
		return s
	case cases.HandNone:
		return "Kein Abdruck möglich: " + reasonLabel(h.Reason)
	}
	return "Noch nicht erfasst"
}

// formValues turns a case's values into form values by field name, dates as TT.MM.JJJJ.
func formValues(f Flow, c *Case) map[string]string {
	out := map[string]string{}
	for _, st := range f.Steps {
		for _, fd := range st.Fields {
			v := c.Values[fd.Key()]
			if fd.Type == "date" {
				v = deDate(v)
			}
			if v != "" {
				out[fd.Name] = v
			}
		}
	}
	if c.Signed {
		out["unterschrift"] = "gespeichert"
	}
	return out
}

// deDate shows YYYY-MM-DD as TT.MM.JJJJ; anything else stays as it is.
func deDate(v string) string {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.Format("02.01.2006")
	}
	return v
}

// stepInput checks what the page itself asks (confirmations ticked, a choice made, dates as
// TT.MM.JJJJ) and turns the posted values into the case file's form. The rules of the case
// are the backend's.
func stepInput(step Step, posted map[string]string) (StepInput, map[string]string) {
	in := StepInput{Fields: map[string]string{}, UI: map[string]string{}}
	errs := map[string]string{}
	for _, fd := range step.Fields {
		v := posted[fd.Name]
		switch {
		case fd.Required && v == "" && fd.Type == "checkbox":
			errs[fd.Name] = "Bitte bestätigen."
		case fd.Required && v == "" && (fd.Type == "radio" || fd.Type == "select"):
			errs[fd.Name] = "Bitte auswählen."
		case fd.Type == "date" && v != "":
			t, err := time.Parse("02.01.2006", v)
			if err != nil {
				errs[fd.Name] = dateProblem(v)
				continue
			}
			v = t.Format(time.DateOnly)
		}
		if fd.UIOnly {
			in.UI[fd.Name] = v
		} else {
			in.Fields[fd.Path] = v
		}
	}
	if step.Kind == KindSignature {
		waived := posted[waiverMark.Name] != ""
		switch {
		case !waived:
			in.Fields[waiverReason.Path] = "" // no mark, no waiver
		case posted[waiverReason.Name] == "":
			errs[waiverReason.Name] = "Bitte angeben, warum die Person nicht unterschreiben kann."
		}
		if sig, ok := strings.CutPrefix(posted["unterschrift"], "data:image/png;base64,"); ok && !waived {
			data, err := base64.StdEncoding.DecodeString(sig)
			if err != nil {
				errs[""] = "Die Unterschrift ist beschädigt. Bitte erneut unterschreiben."
			}
			in.Signature = data
		}
	}
	return in, errs
}

var dateShape = regexp.MustCompile(`^[0-9]{2}\.[0-9]{2}\.[0-9]{4}$`)

// dateProblem says what is wrong with a date that does not parse: a date in the right form
// that does not exist ("31.02.1938") is named as such, anything else gets the form to use.
func dateProblem(v string) string {
	if dateShape.MatchString(v) {
		return "Den " + v + " gibt es nicht. Bitte Tag und Monat prüfen."
	}
	return "Bitte als TT.MM.JJJJ eingeben, z. B. 01.02.1950."
}

// fieldErrors maps the backend's errors (by case-file path) to the fields of a step; errors of
// fields on other steps wait for those steps.
func fieldErrors(step Step, byKey map[string]string) map[string]string {
	out := map[string]string{}
	for k, msg := range byKey {
		switch fd, ok := step.FieldByPath(k); {
		case k == "":
			out[""] = msg
		case ok:
			if out[fd.Name] == "" {
				out[fd.Name] = msg
			}
		default:
			for _, fd := range step.Fields {
				if fd.UIOnly && fd.Name == k {
					out[k] = msg
				}
			}
		}
	}
	return out
}

func (s *Server) postStep(w http.ResponseWriter, r *http.Request) {
	c, f, ok := s.loadCase(w, r)
	if !ok {
		return
	}
	name := r.PathValue("step")
	i := f.StepIndex(name)
	if i < 0 {
		http.Redirect(w, r, "/vorgang/"+url.PathEscape(c.ID), http.StatusSeeOther)
		return
	}
	step := f.Steps[i]
	var version int
	_, _ = fmt.Sscan(r.PostFormValue("version"), &version)
	ch := Change{CaseID: c.ID, Version: version, Key: r.PostFormValue("key"), Caseworker: sessionOf(r).caseworker.Name}
	if ch.Key == "" {
		ch.Key = newToken()
	}
	posted := map[string]string{}
	for _, fd := range step.Fields {
		posted[fd.Name] = strings.TrimSpace(r.PostFormValue(fd.Name))
	}
	if step.Kind == KindSignature {
		posted["unterschrift"] = r.PostFormValue("unterschrift")
	}
	if sessionOf(r).outcome != nil {
		s.sessions.update(sessionOf(r).id, func(ss *session) { ss.outcome = nil })
	}
	action := r.PostFormValue("aktion")
	if action == "sperre" {
		// The page locked itself (idle): keep what was typed for after the unlock.
		pending := &pendingForm{path: r.URL.Path, values: r.PostForm}
		s.sessions.update(sessionOf(r).id, func(ss *session) {
			ss.locked, ss.resume, ss.pending, ss.outcome = true, r.URL.Path, pending, nil
		})
		s.lockBackend(r.Context(), sessionOf(r).caseworker.Name)
		http.Redirect(w, r, "/gesperrt", http.StatusSeeOther)
		return
	}
	if c.State != "draft" {
		http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
		return
	}
	var (
		next *Case
		err  error
		back = stepURL(c, name)
	)
	switch action {
	case "weiter":
		if msg := s.gate(c, step, posted); msg != "" {
			err = &ValidationError{Fields: map[string]string{"": msg}}
			break
		}
		in, errs := stepInput(step, posted)
		in.CheckOnly = len(errs) > 0
		ch.Next = f.NextStep(name)
		if ch.Next == "" {
			ch.Next = name
		}
		if f.StepIndex(c.Step) > f.StepIndex(ch.Next) {
			ch.Next = c.Step // editing an earlier step keeps the furthest step reached
		}
		next, err = s.opts.Backend.Do(r.Context(), ch, casework.SaveStep{Step: name, Input: in})
		if ve := (*ValidationError)(nil); errors.As(err, &ve) || in.CheckOnly {
			if ve != nil {
				for k, msg := range fieldErrors(step, ve.Fields) {
					if errs[k] == "" {
						errs[k] = msg
					}
				}
			}
			err = &ValidationError{Fields: errs}
		}
		if err == nil {
			back = stepURL(next, ch.Next) + "?ok=1"
		}
	case "scannen":
		keepUnsaved(&ch, step, posted)
		next, err = s.opts.Backend.Do(r.Context(), ch, casework.Scan{Part: step.Part})
	case "foto":
		if step.Kind != KindPhoto {
			break
		}
		keepUnsaved(&ch, step, posted)
		frame, ferr := cameraFrame(r.PostFormValue("lichtbild"))
		if ferr != "" {
			err = &ValidationError{Fields: map[string]string{"": ferr}}
			break
		}
		next, err = s.opts.Backend.Do(r.Context(), ch, casework.TakePhoto{Frame: frame})
	case "drucken":
		keepUnsaved(&ch, step, posted)
		doc := step.Doc
		if step.Kind == KindSummary {
			doc = f.Final
		}
		next, err = s.opts.Backend.Do(r.Context(), ch, casework.Print{Doc: doc})
	case "erfassen", cases.FingerAccept, cases.FingerSkip, cases.FingerNone:
		finger := r.PostFormValue("finger")
		hand, _, _ := strings.Cut(finger, "_")
		reason := r.PostFormValue("grund_" + hand)
		if _, p := c.Capture.CheckAction(strings.Replace(action, "erfassen", cases.ActionCapture, 1), finger, reason); p != nil {
			field := ""
			if p.Field == "reason" {
				field = "grund_" + hand
			}
			err = &ValidationError{Fields: map[string]string{field: p.Hint}}
			break
		}
		if action == "erfassen" {
			next, err = s.opts.Backend.Do(r.Context(), ch, casework.CaptureFinger{Finger: finger})
			break
		}
		next, err = s.opts.Backend.Do(r.Context(), ch, casework.DecideFinger{Decision: cases.FingerDecision{Hand: hand, Finger: finger, Action: action, Reason: reason}})
	case "neu":
		next, err = s.opts.Backend.Do(r.Context(), ch, casework.RecaptureHand{Hand: r.PostFormValue("hand")})
	case "versiegeln":
		if step.Kind != KindSummary {
			break
		}
		if !c.Printed[f.Final] {
			err = &ValidationError{Fields: map[string]string{"": "Bitte zuerst die " + f.FinalT + " drucken."}}
			break
		}
		next, err = s.opts.Backend.Do(r.Context(), ch, casework.Seal{})
		if err == nil {
			back = "/vorgang/" + url.PathEscape(c.ID) + "/" + url.PathEscape(name)
		}
	default:
		s.render(w, r, http.StatusBadRequest, "error", &page{Title: "Unbekannte Aktion", Error: "Diese Aktion gibt es nicht. Bitte die Seite neu laden."})
		return
	}
	s.afterChange(w, r, c, f, name, posted, next, err, back)
}

// draftFile shows a stored file of a draft (the photo, the signature, a scan) for the preview:
// images and PDFs only, never cached.
func (s *Server) draftFile(w http.ResponseWriter, r *http.Request) {
	data, err := s.opts.Backend.DraftFile(r.Context(), r.PathValue("id"), r.PathValue("part"))
	if errors.Is(err, ErrNotFound) {
		http.Error(w, "Keine Datei vorhanden.", http.StatusNotFound)
		return
	}
	if err != nil {
		s.fail(w, r, "draftFile", err)
		return
	}
	ct := http.DetectContentType(data)
	switch ct {
	case "image/jpeg", "image/png", "application/pdf":
	default:
		http.Error(w, "Diese Datei kann nicht angezeigt werden.", http.StatusUnsupportedMediaType)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", "inline")
	// The step page shows a scan (a PDF) in an <object>: only this response may be embedded,
	// and only by the UI itself.
	h.Del("X-Frame-Options")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'self'")
	_, _ = w.Write(data)
}

// keepUnsaved sends the step's form values with a device action, so what was ticked or chosen
// but not saved yet is shown again after the action's reload.
func keepUnsaved(ch *Change, step Step, posted map[string]string) {
	if len(step.Fields) == 0 {
		return
	}
	ch.Step, ch.Unsaved = step.Name, map[string]string{}
	for _, fd := range step.Fields {
		if v := posted[fd.Name]; v != "" {
			ch.Unsaved[fd.Name] = v
		}
	}
}

// maxFrame bounds the camera frame the page sends (a JPEG from the canvas is a few hundred
// KiB; the request body is limited to 1 MiB anyway).
const maxFrame = 900 << 10

// cameraFrame decodes the camera frame the page posts as a JPEG or PNG data URL; the second
// result is the German hint when there is none.
func cameraFrame(v string) ([]byte, string) {
	const none = "Kein Kamerabild empfangen. Bitte die Kamera freigeben, die Person in die Schablone bringen und erneut „Lichtbild aufnehmen“ wählen."
	var data string
	for _, prefix := range []string{"data:image/jpeg;base64,", "data:image/png;base64,"} {
		if d, ok := strings.CutPrefix(v, prefix); ok {
			data = d
		}
	}
	if data == "" || base64.StdEncoding.DecodedLen(len(data)) > maxFrame {
		return nil, none
	}
	frame, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, none
	}
	return frame, ""
}

// gate checks what a step needs besides its fields before the case may move on.
func (s *Server) gate(c *Case, step Step, posted map[string]string) string {
	switch step.Kind {
	case KindScan:
		if c.Scans[step.Part] == 0 {
			return "Bitte zuerst das Dokument scannen."
		}
	case KindPhoto:
		if source, _ := step.FieldByPath("details.photo_source"); posted[source.Name] == cases.PhotoAuthority && c.Scans[step.Part] == 0 {
			return "Bitte zuerst das Lichtbild aufnehmen."
		}
	case KindPrint:
		if !c.Printed[step.Doc] {
			return "Bitte zuerst das " + step.DocT + " drucken."
		}
	case KindFingers:
		if !c.NoFingers && !c.Capture.Done() {
			return "Bitte zuerst beide Hände abschließen: Abdruck erfasst oder Entscheidung getroffen."
		}
	case KindSignature:
		if !c.NoSignature && posted["unterschrift"] == "" && posted[waiverMark.Name] == "" {
			return "Bitte im Feld unterschreiben lassen oder ankreuzen, dass die Person nicht unterschreiben kann."
		}
	}
	return ""
}

// afterChange answers a change of a step: a redirect to back when it went through; when it was
// refused, the outcome is kept in the session and the browser is redirected to the step, so a
// reload shows it again and never posts the form a second time.
func (s *Server) afterChange(w http.ResponseWriter, r *http.Request, c *Case, f Flow, name string, posted map[string]string, next *Case, err error, back string) {
	var ve *ValidationError
	var de *devices.Error
	o := &stepOutcome{path: r.URL.Path}
	switch {
	case err == nil:
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	case errors.As(err, &ve):
		o.status, o.values, o.errors = http.StatusUnprocessableEntity, posted, ve.Fields
		if len(o.errors) == 0 {
			o.errors = map[string]string{"": "Der Schritt konnte nicht gespeichert werden. Bitte die vorigen Schritte prüfen."}
		}
		for k := range o.errors {
			if k != "" {
				o.msg = "Bitte die markierten Angaben prüfen." // only when a field is marked
			}
		}
	case errors.Is(err, ErrConflict):
		o.status = http.StatusConflict
		o.msg = "Dieser Vorgang wurde inzwischen an anderer Stelle (z. B. in einem anderen Fenster) geändert. Hier ist der aktuelle Stand. Bitte prüfen und erneut absenden."
	case errors.Is(err, ErrSealed):
		http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
		return
	case errors.As(err, &de):
		s.log.Warn("deviceFailed", "kind", de.Kind, "code", de.Code)
		o.status, o.values, o.device = http.StatusServiceUnavailable, posted, devices.Hint(err)
	default:
		s.fail(w, r, "change", err)
		return
	}
	s.sessions.update(sessionOf(r).id, func(ss *session) { ss.outcome = o })
	http.Redirect(w, r, r.URL.Path+"?fehler=1", http.StatusSeeOther)
}

var funcs = template.FuncMap{
	"fingerName":  FingerName,
	"handName":    HandName,
	"reasonLabel": reasonLabel,
	"reasons":     reasonOptions,
	"methodName":  MethodName,
	"deDate":      func(t time.Time) string { return t.Format("02.01.2006") },
	"deTime":      func(t time.Time) string { return t.Format("15:04") },
	"QueueText":   QueueText,
	"damagedHint": func() string { return casework.DamagedHint },
	"deviceName":  deviceName,
	"serviceTitle": func(s Service) string {
		if f, ok := FlowOf(s); ok {
			return f.Title
		}
		return string(s)
	},
	"stepTitle": func(s Service, step string) string {
		if f, ok := FlowOf(s); ok {
			if i := f.StepIndex(step); i >= 0 {
				return f.Steps[i].Title
			}
		}
		return step
	},
	"checked": func(v string) bool { return v != "" },
	"dataURL": func(v string) template.URL {
		if strings.HasPrefix(v, "data:image/png;base64,") {
			return template.URL(v) // a PNG data URL only; anything else renders as nothing
		}
		return ""
	},
	"fieldCtx": func(f FieldDef, values, errs map[string]string) fieldCtx {
		return fieldCtx{F: f, Values: values, Errors: errs}
	},
	"add": func(a, b int) int { return a + b },
	"attemptsUsed": func(h cases.HandState) int {
		return len(h.Attempts)
	},
	"discardReasons": func() []casework.DiscardReason { return casework.DiscardReasons },
	// The short case number, the same on screen as on paper.
	"shortID": documents.CaseNumber,
	// docTitle is the German name of a document a flow prints.
	"docTitle": func(f Flow, doc string) string {
		if doc == f.Final {
			return f.FinalT
		}
		for _, st := range f.Steps {
			if st.Doc == doc {
				return st.DocT
			}
		}
		return doc
	},
}

func deviceName(kind string) string {
	switch kind {
	case "printer":
		return "Drucker"
	case "scanner":
		return "Scanner"
	case "fingerprint":
		return "Fingerabdruckleser"
	}
	return kind
}

// QueueText says in German how many cases wait and since when.
func QueueText(q Queue, now time.Time) string {
	if q.Waiting == 0 {
		return "Keine Vorgänge warten auf Übertragung."
	}
	since := ""
	if !q.Oldest.IsZero() {
		since = ", ältester seit " + germanDuration(now.Sub(q.Oldest))
		if q.Waiting == 1 {
			since = ", seit " + germanDuration(now.Sub(q.Oldest))
		}
	}
	if q.Waiting == 1 {
		return "1 Vorgang wartet auf Übertragung" + since + "."
	}
	return fmt.Sprintf("%d Vorgänge warten auf Übertragung%s.", q.Waiting, since)
}

func germanDuration(d time.Duration) string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int(d/(24*time.Hour)), "Tag", "Tagen")
	case d >= 24*time.Hour:
		return "1 Tag"
	case d >= time.Hour:
		return plural(int(d/time.Hour), "Stunde", "Stunden")
	case d >= time.Minute:
		return plural(int(d/time.Minute), "Minute", "Minuten")
	}
	return "wenigen Sekunden"
}

// technik shows the technician's report (the checks of koffer doctor). Running them takes up
// to a few seconds: each check has its own deadline.
func (s *Server) technik(w http.ResponseWriter, r *http.Request) {
	p := &page{Title: "Technik"}
	if t, ok := s.opts.Backend.(Technician); ok {
		rep, err := t.Technik(r.Context())
		if err != nil {
			s.fail(w, r, "technik", err)
			return
		}
		p.Tech = &rep
	}
	s.render(w, r, http.StatusOK, "technik", p)
}

// trainingPrinter is a backend on a training kit: it shows what the simulated printer received.
type trainingPrinter interface {
	TrainingPrint(caseID, doc string) (mime string, data []byte, ok bool)
}

// trainingPrint shows the trainee the paper the training printer "printed" for a case.
func (s *Server) trainingPrint(w http.ResponseWriter, r *http.Request) {
	tp, ok := s.opts.Backend.(trainingPrinter)
	var mime string
	var data []byte
	if ok {
		mime, data, ok = tp.TrainingPrint(r.PathValue("id"), r.PathValue("doc"))
	}
	if !ok {
		s.render(w, r, http.StatusNotFound, "error", &page{Title: "Kein Übungsausdruck",
			Error: "Für dieses Dokument liegt kein Ausdruck des Übungsdruckers vor. Er wird nur im Übungsbetrieb und bis zum Neustart des Koffers aufbewahrt."})
		return
	}
	w.Header().Set("Content-Type", mime)
	w.Header().Set("Cache-Control", "no-store")
	disposition := "inline"
	if mime != "application/pdf" {
		disposition = "attachment"
	}
	w.Header().Set("Content-Disposition", disposition+`; filename="uebungsdruck-`+r.PathValue("doc")+`"`)
	_, _ = w.Write(data)
}
