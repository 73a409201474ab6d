package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"koffer/agent/cases"
	"koffer/agent/documents"
	"koffer/agent/keys"
	"koffer/agent/web"
	"koffer/devices"
	"koffer/devices/fingerprint"
	"koffer/store"
)

// DocumentScanner scans one document and returns it as PDF, JPEG or PNG.
type DocumentScanner interface {
	ScanDocument(ctx context.Context) ([]byte, error)
}

// WebDevices are the devices the caseworker UI drives. A nil device shows as "not set up".
type WebDevices struct {
	Printer  Printer
	Scanner  DocumentScanner
	Reader   fingerprint.Reader
	Scorer   fingerprint.Scorer // default fingerprint.Estimate{}
	Training bool               // the devices are simulators
}

// uiStep is the draft step holding the UI's own state of a case: the values as typed, where
// the case stands, the version for optimistic concurrency and the idempotency keys applied.
const uiStep = "ui"

type uiState struct {
	Version   int                  `json:"version"`
	Step      string               `json:"step"`
	VisitID   string               `json:"visit_id,omitempty"`
	Keys      []string             `json:"keys"`
	Values    map[string]string    `json:"values"`
	Scans     map[string]int       `json:"scans"`
	Printed   map[string]bool      `json:"printed"`
	Attempts  []web.FingerAttempt  `json:"attempts"`
	Decisions []web.FingerDecision `json:"decisions"`
	Attached  map[string]bool      `json:"attached"` // hand -> fingerprint stored
}

// WebBackend implements web.Backend over the agent: drafts in the store encrypted with the data
// key, validation by agent/cases (the rules of `koffer case submit`), sealing by SealDraft.
type WebBackend struct {
	a   *Agent
	dev WebDevices

	mu     sync.Mutex
	images map[string][]byte // caseID/finger/attempt -> PNG of a capture below the threshold
}

var _ web.Backend = (*WebBackend)(nil)

// WebBackend returns the UI's backend over this agent.
func (a *Agent) WebBackend(dev WebDevices) *WebBackend {
	if dev.Scorer == nil {
		dev.Scorer = fingerprint.Estimate{}
	}
	return &WebBackend{a: a, dev: dev, images: map[string][]byte{}}
}

// Login implements web.Backend.
func (b *WebBackend) Login(ctx context.Context, name, passphrase string) (web.Caseworker, error) {
	err := b.a.Login(ctx, name, []byte(passphrase))
	if errors.Is(err, keys.ErrWrongPassphrase) || errors.Is(err, store.ErrNotFound) {
		return web.Caseworker{}, web.ErrBadLogin
	}
	var te *LoginThrottledError
	if errors.As(err, &te) {
		return web.Caseworker{}, &web.TooManyAttemptsError{Wait: te.Wait}
	}
	if err != nil {
		return web.Caseworker{}, err
	}
	return web.Caseworker{Name: name, Display: name}, nil
}

// Lock implements web.Backend: the data key is forgotten; drafts wait for the next login.
func (b *WebBackend) Lock(context.Context, string) error {
	b.a.Logout()
	return nil
}

// Overview implements web.Backend: the queue, the uplink, today's appointments from the visit
// packs (while a caseworker is logged in) and the devices.
func (b *WebBackend) Overview(ctx context.Context) (web.Overview, error) {
	now := b.a.now()
	qs, err := b.a.store.QueueStats(ctx)
	if err != nil {
		return web.Overview{}, err
	}
	ov := web.Overview{Now: now, Queue: web.Queue{Waiting: qs.Depth, Failed: qs.Parked}}
	if qs.Depth > 0 {
		ov.Queue.Oldest = now.Add(-qs.OldestAge)
	}
	ov.Uplink = b.a.webUplink()
	visits, err := b.a.Visits(ctx, now.Format(time.DateOnly))
	if err != nil && !errors.Is(err, store.ErrNoKey) {
		return web.Overview{}, err
	}
	for _, v := range visits {
		wv := web.Visit{ID: v.ID, Time: v.Time, Name: v.Person.GivenNames + " " + v.Person.FamilyName, Place: v.Place}
		for _, s := range v.Services {
			wv.Services = append(wv.Services, web.Service(s))
		}
		ov.Visits = append(ov.Visits, wv)
	}
	dev := func(kind string, present bool, what string) web.Device {
		d := web.Device{Kind: kind, Ready: present, Training: b.dev.Training && present}
		if b.dev.Training && present {
			d.Name = "Simulation"
		}
		if !present {
			d.Reason = "Kein " + what + " eingerichtet. Bitte die Technik verständigen."
		}
		return d
	}
	ov.Devices = []web.Device{
		dev("printer", b.dev.Printer != nil, "Drucker"),
		dev("scanner", b.dev.Scanner != nil, "Scanner"),
		dev("fingerprint", b.dev.Reader != nil, "Fingerabdruckleser"),
	}
	return ov, nil
}

// load reads a draft's UI state.
func (b *WebBackend) load(ctx context.Context, id string) (*store.Case, *uiState, error) {
	c, err := b.a.store.Case(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, web.ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	if c.State != store.StateDraft {
		return c, nil, nil
	}
	key, err := b.a.DataKey()
	if err != nil {
		return nil, nil, lockedErr(err)
	}
	steps, err := b.a.store.Steps(ctx, key, id)
	if err != nil {
		return nil, nil, err
	}
	st := &uiState{}
	if raw, ok := steps[uiStep]; ok {
		if err := json.Unmarshal(raw, st); err != nil {
			return nil, nil, fmt.Errorf("ui step of %s: %w", id, err)
		}
	}
	st.init()
	return c, st, nil
}

func (st *uiState) init() {
	if st.Values == nil {
		st.Values = map[string]string{}
	}
	if st.Scans == nil {
		st.Scans = map[string]int{}
	}
	if st.Printed == nil {
		st.Printed = map[string]bool{}
	}
	if st.Attached == nil {
		st.Attached = map[string]bool{}
	}
	if st.Version == 0 {
		st.Version = 1
	}
}

func lockedErr(err error) error {
	if errors.Is(err, store.ErrNoKey) {
		return fmt.Errorf("%w: %w", web.ErrLocked, err)
	}
	return err
}

func (b *WebBackend) save(ctx context.Context, id string, st *uiState) error {
	key, err := b.a.DataKey()
	if err != nil {
		return lockedErr(err)
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return b.a.store.SaveStep(ctx, key, id, uiStep, data)
}

func (b *WebBackend) toWeb(c *store.Case, st *uiState) *web.Case {
	wc := &web.Case{ID: c.ID, Service: web.Service(c.Service), State: c.State, Late: c.Late,
		SealedAt: c.SealedAt, PacketSize: c.PacketSize, UpdatedAt: c.UpdatedAt}
	if st == nil {
		return wc
	}
	wc.Version, wc.Step, wc.VisitID = st.Version, st.Step, st.VisitID
	wc.Values = st.Values
	wc.Scans, wc.Printed = st.Scans, st.Printed
	wc.Attempts, wc.Decisions = st.Attempts, st.Decisions
	now := b.a.now()
	f, _ := caseFile(cases.Service(c.Service), st.Values)
	wc.Fee = "gebührenfrei"
	if birth, err := time.Parse(time.DateOnly, f.Person.BirthDate); err == nil {
		fee := cases.ServiceFee(f.Service, now, cases.Age(birth, now), f.Details.Provisional)
		if fee.Cents > 0 {
			wc.Fee = fee.String()
		}
	} else if f.Service == cases.Personalausweis {
		wc.Fee = "wird nach dem Geburtsdatum berechnet"
	}
	if moved, err := time.Parse(time.DateOnly, f.Details.MoveInDate); err == nil {
		wc.Late = cases.RegistrationLate(moved, now)
	}
	return wc
}

// CreateCase implements web.Backend.
func (b *WebBackend) CreateCase(ctx context.Context, caseworker string, s web.Service, visitID string) (*web.Case, error) {
	flow, ok := web.FlowOf(s)
	if !ok {
		return nil, fmt.Errorf("unknown service %q", s)
	}
	id, err := b.a.StartDraft(ctx, cases.Service(s), caseworker)
	if err != nil {
		return nil, lockedErr(err)
	}
	st := &uiState{Step: flow.Steps[0].Name, VisitID: visitID}
	st.init()
	if s == web.Personalausweis {
		st.Values["staatsangehoerigkeit"] = "DEU"
	}
	if visitID != "" {
		ap, err := b.a.Appointment(ctx, visitID)
		if err != nil {
			return nil, lockedErr(err)
		}
		prefill(st.Values, s, ap.Person)
	}
	if err := b.save(ctx, id, st); err != nil {
		return nil, err
	}
	return b.Case(ctx, id)
}

// Case implements web.Backend.
func (b *WebBackend) Case(ctx context.Context, id string) (*web.Case, error) {
	c, st, err := b.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return b.toWeb(c, st), nil
}

// Drafts implements web.Backend.
func (b *WebBackend) Drafts(ctx context.Context) ([]web.CaseSummary, error) {
	cs, err := b.a.store.Cases(ctx, store.StateDraft)
	if err != nil {
		return nil, err
	}
	out := make([]web.CaseSummary, 0, len(cs))
	for _, c := range cs {
		s := web.CaseSummary{ID: c.ID, Service: web.Service(c.Service), UpdatedAt: c.UpdatedAt}
		if _, st, err := b.load(ctx, c.ID); err == nil && st != nil {
			s.Step = st.Step
			s.Name = strings.TrimSpace(st.Values["vornamen"] + " " + st.Values["familienname"])
		}
		out = append(out, s)
	}
	return out, nil
}

// change applies fn to a draft with the version and idempotency checks, then stores it.
func (b *WebBackend) change(ctx context.Context, ch web.Change, fn func(c *store.Case, st *uiState) error) (*web.Case, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, st, err := b.load(ctx, ch.CaseID)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, web.ErrSealed
	}
	if ch.Key != "" && slices.Contains(st.Keys, ch.Key) {
		return b.toWeb(c, st), nil
	}
	if ch.Version != st.Version {
		return nil, web.ErrConflict
	}
	if err := fn(c, st); err != nil {
		return nil, err
	}
	st.Version++
	if ch.Next != "" {
		st.Step = ch.Next
	}
	st.Keys = append(st.Keys, ch.Key)
	if len(st.Keys) > 50 {
		st.Keys = st.Keys[len(st.Keys)-50:]
	}
	if err := b.save(ctx, ch.CaseID, st); err != nil {
		return nil, err
	}
	return b.toWeb(c, st), nil
}

// SaveStep implements web.Backend: the step's fields are checked with agent/cases on the case
// file the values add up to; problems of fields on other steps wait for those steps.
func (b *WebBackend) SaveStep(ctx context.Context, ch web.Change, step string, values map[string]string) (*web.Case, error) {
	return b.change(ctx, ch, func(c *store.Case, st *uiState) error {
		flow, _ := web.FlowOf(web.Service(c.Service))
		i := flow.StepIndex(step)
		if i < 0 {
			return &web.ValidationError{Fields: map[string]string{"": "Unbekannter Schritt."}}
		}
		merged := map[string]string{}
		for k, v := range st.Values {
			merged[k] = v
		}
		sig := values["unterschrift"]
		for k, v := range values {
			if k != "unterschrift" {
				merged[k] = v
			}
		}
		errs := checkStep(flow.Steps[i], cases.Service(c.Service), merged, b.a.now())
		if len(errs) > 0 {
			return &web.ValidationError{Fields: errs}
		}
		if strings.HasPrefix(sig, "data:image/png;base64,") {
			data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "data:image/png;base64,"))
			if err != nil {
				return &web.ValidationError{Fields: map[string]string{"": "Die Unterschrift ist beschädigt. Bitte erneut unterschreiben."}}
			}
			if _, err := b.a.AddDraftAttachment(ctx, c.ID, cases.KindSignature, "", data); err != nil {
				return attachErr(err)
			}
			merged["unterschrift"] = "gespeichert"
		}
		st.Values = merged
		return nil
	})
}

func attachErr(err error) error {
	var ve *cases.ValidationError
	if errors.As(err, &ve) {
		hints := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			hints[i] = p.Hint
		}
		return &web.ValidationError{Fields: map[string]string{"": strings.Join(hints, " ")}}
	}
	return lockedErr(err)
}

// Scan implements web.Backend.
func (b *WebBackend) Scan(ctx context.Context, ch web.Change, part string) (*web.Case, error) {
	if b.dev.Scanner == nil {
		return nil, &devices.Error{Kind: devices.Scanner, Code: "scanner.not-configured",
			Hint: "Kein Scanner eingerichtet. Den Vorgang später abschließen und die Technik verständigen."}
	}
	return b.change(ctx, ch, func(c *store.Case, st *uiState) error {
		kind := cases.KindScan
		if part == "foto" {
			kind = cases.KindPhoto
			if st.Scans[part] > 0 {
				return &web.ValidationError{Fields: map[string]string{"": "Das Lichtbild ist bereits aufgenommen."}}
			}
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		data, err := b.dev.Scanner.ScanDocument(sctx)
		if err != nil {
			return err
		}
		if _, err := b.a.AddDraftAttachment(ctx, c.ID, kind, "", data); err != nil {
			return attachErr(err)
		}
		st.Scans[part]++
		return nil
	})
}

// Print implements web.Backend.
func (b *WebBackend) Print(ctx context.Context, ch web.Change, doc string) (*web.Case, error) {
	if b.dev.Printer == nil {
		return nil, &devices.Error{Kind: devices.Printer, Code: "printer.not-configured",
			Hint: "Kein Drucker eingerichtet. Den Vorgang später abschließen und die Technik verständigen."}
	}
	return b.change(ctx, ch, func(c *store.Case, st *uiState) error {
		flow, _ := web.FlowOf(web.Service(c.Service))
		title := flow.FinalT
		for _, s := range flow.Steps {
			if s.Doc == doc {
				title = s.DocT
			}
		}
		cert, err := b.certificate(ctx, doc, c, st, title)
		if err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if _, err := b.dev.Printer.Print(pctx, documents.Document(cert), nil); err != nil {
			return err
		}
		st.Printed[doc] = true
		return nil
	})
}

// CaptureFinger implements web.Backend. A capture that reaches the threshold is stored at once
// (encrypted); poorer ones are kept in memory until the operator decides.
func (b *WebBackend) CaptureFinger(ctx context.Context, ch web.Change, finger string) (*web.Case, error) {
	if b.dev.Reader == nil {
		return nil, &devices.Error{Kind: devices.Fingerprint, Code: "fingerprint.not-configured",
			Hint: "Kein Fingerabdruckleser eingerichtet. Den Vorgang später abschließen und die Technik verständigen."}
	}
	return b.change(ctx, ch, func(c *store.Case, st *uiState) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		img, err := b.dev.Reader.Capture(cctx)
		if err != nil {
			return err
		}
		score, err := b.dev.Scorer.Score(cctx, img)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img.Gray); err != nil {
			return err
		}
		method := "NFIQ 2"
		if score.Method == fingerprint.MethodEstimate {
			method = "Schätzung, kein NFIQ 2"
		}
		st.Attempts = append(st.Attempts, web.FingerAttempt{Finger: finger, Quality: score.Value, Method: method})
		b.images[imageKey(c.ID, finger, len(st.Attempts)-1)] = buf.Bytes()
		hands := web.Hands(st.Attempts, st.Decisions)
		for _, h := range hands {
			if h.Finger == finger && h.Status == web.HandCaptured && !st.Attached[h.Hand] {
				if _, err := b.a.AddDraftAttachment(ctx, c.ID, cases.KindFingerprint, finger, buf.Bytes()); err != nil {
					return attachErr(err)
				}
				st.Attached[h.Hand] = true
			}
		}
		return nil
	})
}

func imageKey(caseID, finger string, attempt int) string {
	return caseID + "/" + finger + "/" + strconv.Itoa(attempt)
}

// DecideFinger implements web.Backend.
func (b *WebBackend) DecideFinger(ctx context.Context, ch web.Change, d web.FingerDecision) (*web.Case, error) {
	return b.change(ctx, ch, func(c *store.Case, st *uiState) error {
		if d.Action == web.FingerAccept {
			best, at := -1, -1
			for i, a := range st.Attempts {
				if a.Finger == d.Finger && a.Quality > best {
					best, at = a.Quality, i
				}
			}
			img := b.images[imageKey(c.ID, d.Finger, at)]
			if img == nil {
				return &web.ValidationError{Fields: map[string]string{"": "Die Aufnahme ist nach einem Neustart nicht mehr vorhanden. Bitte den nächsten Finger nehmen."}}
			}
			if _, err := b.a.AddDraftAttachment(ctx, c.ID, cases.KindFingerprint, d.Finger, img); err != nil {
				return attachErr(err)
			}
			st.Attached[d.Hand] = true
		}
		st.Decisions = append(st.Decisions, d)
		return nil
	})
}

// Seal implements web.Backend: the values become the person and details steps of the draft
// and SealDraft checks and seals it with the same rules as `koffer case submit`.
func (b *WebBackend) Seal(ctx context.Context, ch web.Change) (*web.Case, error) {
	b.mu.Lock() // held through sealing: no step may slip in between check and seal
	defer b.mu.Unlock()
	c, st, err := b.load(ctx, ch.CaseID)
	if err != nil {
		return nil, err
	}
	if st == nil {
		if slices.Contains([]string{store.StateSealed, store.StateUploading, store.StateDelivered}, c.State) {
			return b.toWeb(c, nil), nil // a double submit of the seal
		}
		return nil, web.ErrSealed
	}
	if ch.Version != st.Version {
		return nil, web.ErrConflict
	}
	f, _ := caseFile(cases.Service(c.Service), st.Values)
	if f.Service == cases.Personalausweis {
		none := 0
		for _, h := range web.Hands(st.Attempts, st.Decisions) {
			if h.Status == web.HandNone {
				none++
			}
		}
		f.Details.FingerprintsImpossible = none == 2
	}
	person, _ := json.Marshal(f.Person)
	details, _ := json.Marshal(f.Details)
	if err := b.a.SaveDraftStep(ctx, c.ID, StepPerson, person); err != nil {
		return nil, lockedErr(err)
	}
	if err := b.a.SaveDraftStep(ctx, c.ID, StepDetails, details); err != nil {
		return nil, lockedErr(err)
	}
	if _, err := b.a.SealDraft(ctx, c.ID, ch.Caseworker); err != nil {
		return nil, attachErr(err)
	}
	for k := range b.images {
		if strings.HasPrefix(k, c.ID+"/") {
			delete(b.images, k)
		}
	}
	sealed, err := b.a.store.Case(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return b.toWeb(sealed, nil), nil
}

// Subscribe implements web.Backend: it polls the queue every two seconds and reports changes.
func (b *WebBackend) Subscribe(ctx context.Context) <-chan web.Event {
	ch := make(chan web.Event, 1)
	go func() {
		defer close(ch)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		var last store.QueueStats
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			qs, err := b.a.store.QueueStats(ctx)
			if err != nil {
				continue
			}
			qs.OldestAge = 0
			if qs != last {
				last = qs
				select {
				case ch <- web.Event{Kind: "queue"}:
				default:
				}
			}
		}
	}()
	return ch
}

// uiDate turns TT.MM.JJJJ into YYYY-MM-DD; ok is false when it is not a date.
func uiDate(v string) (string, bool) {
	t, err := time.Parse("02.01.2006", strings.TrimSpace(v))
	if err != nil {
		return v, false
	}
	return t.Format(time.DateOnly), true
}

// caseFile builds the case file the UI values add up to (attachments aside).
func caseFile(s cases.Service, v map[string]string) (*cases.File, map[string]string) {
	f := &cases.File{Service: s}
	p := &f.Person
	p.FamilyName, p.GivenNames = v["familienname"], v["vornamen"]
	p.BirthDate, _ = uiDate(v["geburtsdatum"])
	p.BirthPlace, p.Nationality = v["geburtsort"], strings.ToUpper(strings.TrimSpace(v["staatsangehoerigkeit"]))
	addr := ""
	if s == cases.Wohnsitzanmeldung {
		addr = "neu_"
	}
	p.Address = cases.Address{Street: v[addr+"strasse"], HouseNumber: v[addr+"hausnummer"], PostalCode: v[addr+"plz"], City: v[addr+"ort"]}
	d := &f.Details
	switch s {
	case cases.Personalausweis:
		d.HeightCM, _ = strconv.Atoi(v["groesse"])
		d.EyeColor = v["augenfarbe"]
		if v["lichtbild_art"] == "code" {
			d.PhotoCode = v["lichtbild_code"]
		}
	case cases.Lebensbescheinigung:
		d.Insurer, d.Reference = v["versicherer"], v["aktenzeichen"]
	case cases.Meldebescheinigung:
		d.Extended = v["art"] == "erweitert"
	case cases.Wohnsitzanmeldung:
		d.MoveInDate, _ = uiDate(v["einzug"])
		prev := cases.Address{Street: v["alt_strasse"], HouseNumber: v["alt_hausnummer"], PostalCode: v["alt_plz"], City: v["alt_ort"]}
		if prev != (cases.Address{}) {
			d.PreviousAddress = &prev
		}
	}
	return f, nil
}

// uiField maps a case file field to the UI field that shows it.
func uiField(s cases.Service, field string) string {
	addr := ""
	if s == cases.Wohnsitzanmeldung {
		addr = "neu_"
	}
	m := map[string]string{
		"person.family_name": "familienname", "person.given_names": "vornamen", "person.birth_date": "geburtsdatum",
		"person.birth_place": "geburtsort", "person.nationality": "staatsangehoerigkeit",
		"person.address.street": addr + "strasse", "person.address.house_number": addr + "hausnummer",
		"person.address.postal_code": addr + "plz", "person.address.city": addr + "ort",
		"details.height_cm": "groesse", "details.eye_color": "augenfarbe", "details.photo_code": "lichtbild_code",
		"details.insurer": "versicherer", "details.reference": "aktenzeichen", "details.move_in_date": "einzug",
		"details.previous_address.street": "alt_strasse", "details.previous_address.house_number": "alt_hausnummer",
		"details.previous_address.postal_code": "alt_plz", "details.previous_address.city": "alt_ort",
	}
	return m[field]
}

// checkStep validates one step: the UI's required marks (confirmations, choices), the date
// format the UI uses, then agent/cases on the whole case file for the fields of this step.
func checkStep(step web.Step, s cases.Service, v map[string]string, now time.Time) map[string]string {
	errs := map[string]string{}
	onStep := map[string]bool{}
	for _, fd := range step.Fields {
		onStep[fd.Name] = true
		val := strings.TrimSpace(v[fd.Name])
		switch {
		case fd.Required && val == "" && fd.Type == "checkbox":
			errs[fd.Name] = "Bitte bestätigen."
		case fd.Required && val == "" && (fd.Type == "radio" || fd.Type == "select"):
			errs[fd.Name] = "Bitte auswählen."
		case fd.Type == "date" && val != "":
			if _, ok := uiDate(val); !ok {
				errs[fd.Name] = "Bitte als TT.MM.JJJJ eingeben, z. B. 01.02.1950."
			}
		}
	}
	if step.Kind == web.KindPhoto && v["lichtbild_art"] == "code" && strings.TrimSpace(v["lichtbild_code"]) == "" {
		errs["lichtbild_code"] = "Bitte den Code scannen oder abtippen."
	}
	f, _ := caseFile(s, v)
	_, err := f.Validate(now)
	var ve *cases.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			name := uiField(s, p.Field)
			if name == "" || !onStep[name] || errs[name] != "" {
				continue
			}
			errs[name] = p.Hint
		}
	}
	return errs
}
