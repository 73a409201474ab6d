package casework

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"koffer/agent/cases"
	"koffer/agent/documents"
	"koffer/agent/localapi"
	"koffer/agent/photo"
	"koffer/devices"
	"koffer/devices/fingerprint"
	"koffer/devices/fingerprint/iso19794"
	"koffer/store"
	"koffer/sync/uplink"
	"koffer/sync/visit"
)

// Device jobs: each device runs one job at a time; a scan does not wait for a print.
const (
	printerJob = iota
	scannerJob
	readerJob
)

func (k *Core) lockDevice(job int) func() {
	k.devMu[job].Lock()
	return k.devMu[job].Unlock
}

// uplink says in German how the connection to the town hall stands, for the start page.
func (k *Core) uplink() Uplink {
	var s uplink.State
	ok := false
	if k.opts.Uplink != nil {
		s, ok = k.opts.Uplink()
	}
	if !ok {
		if k.opts.Training {
			return Uplink{Detail: "Übungsmodus: Vorgänge werden nicht an das Rathaus übertragen."}
		}
		return Uplink{Detail: "Die Übertragung ist auf diesem Koffer noch nicht eingerichtet. Vorgänge bleiben sicher gespeichert."}
	}
	u := Uplink{Online: s.Reachable, Sending: s.Sending != "", LastSync: s.LastContact}
	switch {
	case !s.RevokedAt.IsZero():
		u.Online, u.Code = false, "uplink.revoked"
		u.Detail = "Dieser Koffer wurde vom Rathaus gesperrt (verloren oder gestohlen gemeldet). Er überträgt nichts mehr. Bitte den Koffer beim Rathaus abgeben."
	case s.Sending != "":
		u.Detail = "Verbunden mit dem Rathaus. Vorgänge werden gerade übertragen."
	case s.Reachable:
		u.Detail = "Verbunden mit dem Rathaus."
	default:
		u.Detail = "Keine Verbindung zum Rathaus. Vorgänge bleiben sicher gespeichert und werden übertragen, sobald Netz da ist."
	}
	return u
}

// draftStep is the draft step holding a case being captured in the UI: the case file as far as
// it is filled, the UI's own values, where the case stands, the version for optimistic
// concurrency and the idempotency keys applied. Attachments are store rows of their own.
const draftStep = "draft"

type draftState struct {
	Version  int               `json:"version"`
	Step     string            `json:"step"`
	VisitID  string            `json:"visit_id,omitempty"`
	Keys     []string          `json:"keys"`
	File     cases.File        `json:"file"`
	UI       map[string]string `json:"ui"` // UI-only values, by field name
	Scans    map[string]int    `json:"scans"`
	Printed  map[string]bool   `json:"printed"`
	Signed   bool              `json:"signed"`
	Attached map[string]bool   `json:"attached"` // hand -> fingerprint stored
	// Candidates are the ISO/IEC 19794-4 records of captures below the threshold, by
	// finger/attempt, until the operator decides. They live in the encrypted draft, so a crash
	// loses none and no image waits in memory; sealing deletes the draft and them with it.
	Candidates map[string][]byte `json:"candidates,omitempty"`
	// Prefilled are the case-file paths the visit pack filled when the draft was started.
	Prefilled []string `json:"prefilled,omitempty"`
	StartedBy string   `json:"started_by,omitempty"` // caseworker login
	// Files are the attachment ids by part ("foto", "unterschrift", a scan part), for the
	// previews and to replace a photo taken again.
	Files map[string][]int64 `json:"files,omitempty"`
	// Unsaved are a step's form values kept with a device action, by step and field name.
	Unsaved map[string]map[string]string `json:"unsaved,omitempty"`
}

// Overview is the start page: the queue, the uplink, today's appointments from the visit
// packs (while a caseworker is logged in) and the devices.
func (k *Core) Overview(ctx context.Context) (Overview, error) {
	now := k.now()
	qs, err := k.opts.Store.QueueStats(ctx)
	if err != nil {
		return Overview{}, err
	}
	ov := Overview{Now: now, Queue: Queue{Waiting: qs.Depth, Failed: qs.Parked}}
	if qs.Depth > 0 {
		ov.Queue.Oldest = now.Add(-qs.OldestAge)
	}
	ov.Uplink = k.uplink()
	ov.DatabaseDamaged = k.damaged()
	var visits []Appointment
	if k.opts.Visits != nil {
		visits, err = k.opts.Visits.Visits(ctx, now.Format(time.DateOnly))
		if err != nil && !errors.Is(err, store.ErrNoKey) {
			return Overview{}, err
		}
	}
	for _, v := range visits {
		wv := Visit{ID: v.ID, Time: v.Time, Name: v.Person.GivenNames + " " + v.Person.FamilyName, Place: v.Place}
		for _, s := range v.Services {
			wv.Services = append(wv.Services, cases.Service(s))
		}
		ov.Visits = append(ov.Visits, wv)
	}
	dev := func(kind devices.Kind, present bool) Device {
		d := Device{Kind: string(kind), State: localapi.DeviceReady}
		if k.opts.Devices.Training && present {
			d.Name, d.Driver = "Simulation", "sim"
		}
		if !present {
			d.State, d.Code = localapi.DeviceNotConfigured, string(kind)+".not-configured"
			d.Hint = "Kein " + deviceDE[kind] + " eingerichtet. Bitte die Technik verständigen."
		}
		return d
	}
	if k.opts.DeviceStates != nil {
		ov.Devices = k.opts.DeviceStates(ctx)
		return ov, nil
	}
	ov.Devices = []Device{
		dev(devices.Printer, k.opts.Devices.Printer != nil),
		dev(devices.Scanner, k.opts.Devices.Scanner != nil),
		dev(devices.Fingerprint, k.opts.Devices.Reader != nil),
	}
	return ov, nil
}

var deviceDE = map[devices.Kind]string{devices.Printer: "Drucker", devices.Scanner: "Scanner", devices.Fingerprint: "Fingerabdruckleser"}

// notConfigured is the error of a job for a device the kit does not have.
func notConfigured(kind devices.Kind) error {
	return &devices.Error{Kind: kind, Code: string(kind) + ".not-configured",
		Hint: "Kein " + deviceDE[kind] + " eingerichtet. Den Vorgang später abschließen und die Technik verständigen."}
}

// load reads a draft's state; st is nil for a case that is no draft any more.
func (k *Core) load(ctx context.Context, id string) (*store.Case, *draftState, error) {
	c, err := k.opts.Store.Case(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	if c.State != store.StateDraft {
		return c, nil, nil
	}
	st, err := k.draft(ctx, c)
	if err != nil {
		return nil, nil, lockedErr(err)
	}
	return c, st, nil
}

func lockedErr(err error) error {
	if errors.Is(err, store.ErrNoKey) {
		return fmt.Errorf("%w: %w", ErrLocked, err)
	}
	return err
}

func (k *Core) toWeb(c *store.Case, st *draftState) *Case {
	wc := &Case{ID: c.ID, Service: cases.Service(c.Service), State: c.State, Late: c.Late,
		SealedAt: c.SealedAt, PacketSize: c.PacketSize, UpdatedAt: c.UpdatedAt, TrainingPrints: k.TrainingPrints(c.ID)}
	if st == nil {
		return wc
	}
	wc.Version, wc.Step, wc.VisitID, wc.Prefilled = st.Version, st.Step, st.VisitID, st.Prefilled
	wc.Values = map[string]string{}
	for _, p := range cases.Paths() {
		if v := st.File.Get(p); v != "" {
			wc.Values[p] = v
		}
	}
	for k, v := range st.UI {
		wc.Values[k] = v
	}
	wc.Scans, wc.Printed, wc.Signed, wc.Unsaved = st.Scans, st.Printed, st.Signed, st.Unsaved
	wc.Files = map[string]int{}
	for part, ids := range st.Files {
		wc.Files[part] = len(ids)
	}
	if cp := st.File.Details.Fingerprints; cp != nil {
		wc.Capture = *cp
	}
	now := k.now()
	f := &st.File
	wc.Fee = "gebührenfrei"
	age, ageKnown := 0, false
	wc.PhotoRules = photo.Adult
	if birth, err := time.Parse(time.DateOnly, f.Person.BirthDate); err == nil {
		age, ageKnown = cases.Age(birth, now), true
		wc.PhotoRules = photo.ForAge(age)
		if fee := cases.ServiceFee(f.Service, now, age, f.Details.Provisional); fee.Cents > 0 {
			wc.Fee = fee.String()
		}
		wc.NoFingers = f.Service == cases.Personalausweis && !cases.FingerprintsTaken(age)
	} else if f.Service == cases.Personalausweis {
		wc.Fee = "wird nach dem Geburtsdatum berechnet"
	}
	wc.FingerNote = cases.FingerprintInstruction(age, ageKnown)
	if needed, text, ok := cases.SignatureInstruction(f.Service, age, ageKnown); ok {
		wc.SignatureNote, wc.NoSignature = text, !needed
	}
	if moved, err := time.Parse(time.DateOnly, f.Details.MoveInDate); err == nil {
		wc.Late = cases.RegistrationLate(moved, now)
	}
	return wc
}

// CreateCase starts a draft of service s at step, prefilled from the visit visitID if set.
func (k *Core) CreateCase(ctx context.Context, caseworker string, s cases.Service, visitID, step string) (*Case, error) {
	var person *visit.Person
	if visitID != "" && k.opts.Visits == nil {
		return nil, fmt.Errorf("visit %q: %w", visitID, store.ErrNotFound)
	}
	if visitID == "" && cases.VisitOnly(s) {
		return nil, attachErr(cases.ErrNoExtract)
	}
	if visitID != "" {
		ap, err := k.opts.Visits.Appointment(ctx, visitID)
		if err != nil {
			return nil, lockedErr(err)
		}
		if cases.VisitOnly(s) && ap.Register == nil {
			return nil, attachErr(cases.ErrNoExtract)
		}
		person = &ap.Person
	}
	st := &draftState{File: *prefill(s, person), Step: step, VisitID: visitID}
	if person != nil {
		base := prefill(s, nil)
		for _, p := range cases.Paths() {
			if v := st.File.Get(p); v != "" && v != base.Get(p) {
				st.Prefilled = append(st.Prefilled, p)
			}
		}
	}
	id, err := k.startDraft(ctx, s, caseworker, st)
	if err != nil {
		return nil, lockedErr(err)
	}
	return k.Case(ctx, id)
}

// Case loads a case; ErrNotFound if there is none, ErrLocked without the data key.
func (k *Core) Case(ctx context.Context, id string) (*Case, error) {
	c, st, err := k.load(ctx, id)
	if err != nil {
		return nil, err
	}
	wc := k.toWeb(c, st)
	if st != nil && st.File.Service == cases.Meldebescheinigung {
		wc.Extract, err = k.extract(ctx, st.VisitID)
		if err != nil {
			return nil, lockedErr(err)
		}
	}
	return wc, nil
}

// extract is the register extract a Meldebescheinigung is printed from, as the caseworker
// compares it with the ID shown.
func (k *Core) extract(ctx context.Context, visitID string) ([]Field, error) {
	none := []Field{{Label: "Hinweis", Value: "Kein Registerauszug im Besuchspaket."}}
	if visitID == "" || k.opts.Visits == nil {
		return none, nil
	}
	ap, err := k.opts.Visits.Appointment(ctx, visitID)
	if err != nil {
		return nil, err
	}
	e := ap.Register
	if e == nil {
		return none, nil
	}
	out := []Field{{Label: "Familienname", Value: e.FamilyName}}
	add := func(label, v string) {
		if v != "" {
			out = append(out, Field{Label: label, Value: v})
		}
	}
	add("Frühere Namen", e.FormerNames)
	add("Vornamen", e.GivenNames)
	add("Doktorgrad", e.DoctorTitle)
	add("Ordens- oder Künstlername", e.ReligiousOrArtistName)
	add("Geburtsdatum", deDate(e.BirthDate))
	add("Geburtsort", strings.TrimSpace(e.BirthPlace+" "+e.BirthState))
	for _, r := range e.Residences {
		add("Anschrift", r.Address+" ("+r.Dwelling+")")
	}
	return out, nil
}

// Drafts lists the open drafts, oldest first.
func (k *Core) Drafts(ctx context.Context) ([]CaseSummary, error) {
	cs, err := k.opts.Store.Cases(ctx, store.StateDraft)
	if err != nil {
		return nil, err
	}
	out := make([]CaseSummary, 0, len(cs))
	for _, c := range cs {
		s := CaseSummary{ID: c.ID, Service: cases.Service(c.Service), UpdatedAt: c.UpdatedAt}
		if _, st, err := k.load(ctx, c.ID); err == nil && st != nil {
			s.Step, s.StartedBy = st.Step, st.StartedBy
			s.Name = strings.TrimSpace(st.File.Person.GivenNames + " " + st.File.Person.FamilyName)
		}
		out = append(out, s)
	}
	return out, nil
}

// change applies fn to a draft with the version and idempotency checks, then stores it.
func (k *Core) change(ctx context.Context, ch Change, fn func(c *store.Case, st *draftState) error) (*Case, error) {
	defer k.lockCase(ch.CaseID)()
	c, st, err := k.load(ctx, ch.CaseID)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, ErrSealed
	}
	if ch.Key != "" && slices.Contains(st.Keys, ch.Key) {
		return k.toWeb(c, st), nil
	}
	if ch.Version != st.Version {
		return nil, ErrConflict
	}
	if err := fn(c, st); err != nil {
		return nil, err
	}
	st.Version++
	if ch.Next != "" {
		st.Step = ch.Next
	}
	if ch.Step != "" && ch.Unsaved != nil {
		if st.Unsaved == nil {
			st.Unsaved = map[string]map[string]string{}
		}
		st.Unsaved[ch.Step] = ch.Unsaved
	}
	st.Keys = append(st.Keys, ch.Key)
	if len(st.Keys) > 50 {
		st.Keys = st.Keys[len(st.Keys)-50:]
	}
	if err := k.saveDraft(ctx, c.ID, st); err != nil {
		return nil, lockedErr(err)
	}
	return k.toWeb(c, st), nil
}

// SaveStep stores one step: the step's values go into the case file at the paths the
// flow names, and agent/cases checks the case file they add up to; problems of fields on other
// steps wait for those steps.
func (k *Core) SaveStep(ctx context.Context, ch Change, step string, in StepInput) (*Case, error) {
	return k.change(ctx, ch, func(c *store.Case, st *draftState) error {
		f := st.File // st is this request's copy: nothing is kept unless it is saved
		errs := map[string]string{}
		for path, v := range in.Fields {
			var ve *cases.ValidationError
			if err := f.Set(path, v); errors.As(err, &ve) {
				errs[path] = ve.Problems[0].Hint
			} else if err != nil {
				return err
			}
		}
		_, err := f.Validate(k.now())
		var ve *cases.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				if _, onStep := in.Fields[p.Field]; onStep && errs[p.Field] == "" {
					errs[p.Field] = p.Hint
				}
			}
		}
		if len(errs) > 0 || in.CheckOnly {
			return &ValidationError{Fields: errs}
		}
		if in.Signature != nil {
			at, err := k.AddDraftAttachment(ctx, c.ID, cases.KindSignature, "", in.Signature)
			if err != nil {
				return attachErr(err)
			}
			st.Signed = true
			st.addFile(partSignature, at.ID)
		}
		st.File = f
		maps.Copy(st.UI, in.UI)
		delete(st.Unsaved, step) // saved now
		if err := k.dropPhotoForCode(ctx, c.ID, st, ch.Caseworker); err != nil {
			return err
		}
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
		return &ValidationError{Fields: map[string]string{"": strings.Join(hints, " ")}}
	}
	return lockedErr(err)
}

// Scan scans a document into the case as part ("foto" is the photo taken on site).
func (k *Core) Scan(ctx context.Context, ch Change, part string) (*Case, error) {
	if k.opts.Devices.Scanner == nil {
		return nil, notConfigured(devices.Scanner)
	}
	return k.change(ctx, ch, func(c *store.Case, st *draftState) error {
		if part == PartPhoto {
			// Since May 2025 only a digital photo is accepted: it comes from the camera
			// (TakePhoto), never from the document scanner.
			return &ValidationError{Fields: map[string]string{"": "Das Lichtbild wird mit der Kamera aufgenommen, nicht mit dem Scanner. Bitte „Lichtbild aufnehmen“ unter der Kamera-Vorschau wählen."}}
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		defer k.lockDevice(scannerJob)()
		data, err := k.opts.Devices.Scanner.ScanDocument(sctx)
		if err != nil {
			return err
		}
		at, err := k.AddDraftAttachment(ctx, c.ID, cases.KindScan, "", data)
		if err != nil {
			return attachErr(err)
		}
		st.Scans[part]++
		st.addFile(part, at.ID)
		return nil
	})
}

// Print lays out document doc of the case and prints it.
func (k *Core) Print(ctx context.Context, ch Change, doc string) (*Case, error) {
	if k.opts.Devices.Printer == nil {
		return nil, notConfigured(devices.Printer)
	}
	return k.change(ctx, ch, func(c *store.Case, st *draftState) error {
		cert, err := k.certificate(ctx, doc, c, st, ch.Caseworker)
		if err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		defer k.lockDevice(printerJob)()
		res, err := k.opts.Devices.Printer.Print(pctx, documents.Document(cert), nil)
		if err != nil {
			return err
		}
		k.rememberTrainingPrint(c.ID, doc, res.JobID)
		st.Printed[doc] = true
		return nil
	})
}

// CaptureFinger takes one attempt of finger when the procedure allows it. Each capture becomes an ISO/IEC 19794-4 record; one
// that reaches the threshold is stored at once (encrypted), poorer ones are kept in memory
// until the operator decides.
func (k *Core) CaptureFinger(ctx context.Context, ch Change, finger string) (*Case, error) {
	if k.opts.Devices.Reader == nil {
		return nil, notConfigured(devices.Fingerprint)
	}
	return k.change(ctx, ch, func(c *store.Case, st *draftState) error {
		cp := st.capture()
		if _, p := cp.CheckAction(cases.ActionCapture, finger, ""); p != nil {
			return &ValidationError{Fields: map[string]string{"": p.Hint}}
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		defer k.lockDevice(readerJob)()
		img, err := k.opts.Devices.Reader.Capture(cctx)
		if err != nil {
			return err
		}
		score, err := k.opts.Devices.Scorer.Score(cctx, img)
		if err != nil {
			return err
		}
		rec, err := fingerRecord(finger, img, score)
		if err != nil {
			return err
		}
		cp.Attempts = append(cp.Attempts, cases.FingerAttempt{Finger: finger, Quality: score.Value, Method: string(score.Method)})
		for _, h := range cp.Hands() {
			if h.Finger == finger && h.Status == cases.HandCaptured && !st.Attached[h.Hand] {
				if _, err := k.AddDraftAttachment(ctx, c.ID, cases.KindFingerprint, finger, rec); err != nil {
					return attachErr(err)
				}
				st.Attached[h.Hand] = true
				st.forgetCandidates(finger)
				return nil
			}
		}
		if st.Candidates == nil {
			st.Candidates = map[string][]byte{}
		}
		st.Candidates[imageKey(finger, len(cp.Attempts)-1)] = rec
		return nil
	})
}

// fingerRecord encodes one capture as an ISO/IEC 19794-4 record (PNG inside, lossless).
func fingerRecord(finger string, img *fingerprint.Image, score fingerprint.Score) ([]byte, error) {
	pos, ok := cases.FingerPosition(finger)
	if !ok {
		return nil, fmt.Errorf("capture: finger %q", finger)
	}
	r, err := iso19794.FromPrints([]fingerprint.Print{{Finger: pos, Image: img, Score: score, Attempts: 1}}, iso19794.PNG, 0)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	return r.MarshalBinary()
}

func imageKey(finger string, attempt int) string {
	return finger + "/" + strconv.Itoa(attempt)
}

// forgetCandidates drops the waiting captures of one finger: it was taken or decided on.
func (st *draftState) forgetCandidates(finger string) {
	for key := range st.Candidates {
		if strings.HasPrefix(key, finger+"/") {
			delete(st.Candidates, key)
		}
	}
}

// capture is the draft's capture record, created on first use.
func (st *draftState) capture() *cases.Capture {
	if st.File.Details.Fingerprints == nil {
		st.File.Details.Fingerprints = &cases.Capture{}
	}
	return st.File.Details.Fingerprints
}

// DecideFinger records an operator decision: keep the best attempt, next finger, or none.
func (k *Core) DecideFinger(ctx context.Context, ch Change, d cases.FingerDecision) (*Case, error) {
	return k.change(ctx, ch, func(c *store.Case, st *draftState) error {
		cp := st.capture()
		if _, p := cp.CheckAction(d.Action, d.Finger, d.Reason); p != nil {
			return &ValidationError{Fields: map[string]string{"": p.Hint}}
		}
		if d.Action == cases.FingerAccept {
			best, at := -1, -1
			for i, a := range cp.Attempts {
				if a.Finger == d.Finger && a.Quality > best {
					best, at = a.Quality, i
				}
			}
			img := st.Candidates[imageKey(d.Finger, at)]
			if img == nil {
				return &ValidationError{Fields: map[string]string{"": "Die Aufnahme ist nicht mehr vorhanden. Bitte den Finger erneut erfassen oder den nächsten Finger nehmen."}}
			}
			if _, err := k.AddDraftAttachment(ctx, c.ID, cases.KindFingerprint, d.Finger, img); err != nil {
				return attachErr(err)
			}
			st.Attached[d.Hand] = true
		}
		st.forgetCandidates(d.Finger)
		cp.Decisions = append(cp.Decisions, d)
		return nil
	})
}

// Seal seals a draft for the UI: SealDraft checks and seals the draft with the same rules as
// `koffer case submit`.
func (k *Core) Seal(ctx context.Context, ch Change) (*Case, error) {
	defer k.lockCase(ch.CaseID)() // held through sealing: no step may slip in between check and seal
	c, st, err := k.load(ctx, ch.CaseID)
	if err != nil {
		return nil, err
	}
	if st == nil {
		if slices.Contains([]string{store.StateSealed, store.StateUploading, store.StateDelivered}, c.State) {
			return k.toWeb(c, nil), nil // a double submit of the seal
		}
		return nil, ErrSealed
	}
	if ch.Version != st.Version {
		return nil, ErrConflict
	}
	if _, err := k.SealDraft(ctx, c.ID, ch.Caseworker); err != nil {
		return nil, attachErr(err)
	}
	k.forgetCaseLock(c.ID)
	sealed, err := k.opts.Store.Case(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return k.toWeb(sealed, nil), nil
}

// Subscribe reports queue changes until ctx ends: it polls the queue every two seconds and reports changes.
func (k *Core) Subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, 1)
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
			qs, err := k.opts.Store.QueueStats(ctx)
			if err != nil {
				continue
			}
			qs.OldestAge = 0
			if qs != last {
				last = qs
				select {
				case ch <- Event{Kind: "queue"}:
				default:
				}
			}
		}
	}()
	return ch
}
