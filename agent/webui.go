package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	"koffer/devices/fingerprint/iso19794"
	"koffer/store"
	"koffer/sync/visit"
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
}

// WebBackend implements web.Backend over the agent: drafts in the store encrypted with the data
// key, validation by agent/cases (the rules of `koffer case submit`), sealing by SealDraft.
type WebBackend struct {
	a   *Agent
	dev WebDevices

	mu sync.Mutex
	// images are the ISO/IEC 19794-4 records of captures not stored yet (below the threshold,
	// waiting for the operator), by caseID/finger/attempt. Lock and logout drop them.
	images map[string][]byte
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
	if err != nil {
		return web.Caseworker{}, err
	}
	return web.Caseworker{Name: name, Display: name}, nil
}

// Lock implements web.Backend: the data key is forgotten; drafts wait for the next login.
func (b *WebBackend) Lock(context.Context, string) error {
	b.a.Logout()
	b.dropImages()
	return nil
}

// dropImages forgets every fingerprint image held in memory: they wait for an operator who
// is no longer there, and biometrics never outlive the session that captured them.
func (b *WebBackend) dropImages() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, img := range b.images {
		clear(img)
		delete(b.images, k)
	}
}

// HeldImages is how many fingerprint images wait in memory (for tests and metrics).
func (b *WebBackend) HeldImages() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.images)
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

// load reads a draft's state; st is nil for a case that is no draft any more.
func (b *WebBackend) load(ctx context.Context, id string) (*store.Case, *draftState, error) {
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
	st, err := b.a.draft(ctx, c)
	if errors.Is(err, store.ErrNoKey) {
		b.dropImages() // the agent locked itself: nobody can decide on them now
	}
	if err != nil {
		return nil, nil, lockedErr(err)
	}
	return c, st, nil
}

func lockedErr(err error) error {
	if errors.Is(err, store.ErrNoKey) {
		return fmt.Errorf("%w: %w", web.ErrLocked, err)
	}
	return err
}

func (b *WebBackend) toWeb(c *store.Case, st *draftState) *web.Case {
	wc := &web.Case{ID: c.ID, Service: cases.Service(c.Service), State: c.State, Late: c.Late,
		SealedAt: c.SealedAt, PacketSize: c.PacketSize, UpdatedAt: c.UpdatedAt}
	if st == nil {
		return wc
	}
	wc.Version, wc.Step, wc.VisitID = st.Version, st.Step, st.VisitID
	wc.Values = map[string]string{}
	for _, p := range cases.Paths() {
		if v := st.File.Get(p); v != "" {
			wc.Values[p] = v
		}
	}
	for k, v := range st.UI {
		wc.Values[k] = v
	}
	wc.Scans, wc.Printed, wc.Signed = st.Scans, st.Printed, st.Signed
	if cp := st.File.Details.Fingerprints; cp != nil {
		wc.Capture = *cp
	}
	now := b.a.now()
	f := &st.File
	wc.Fee = "gebührenfrei"
	if birth, err := time.Parse(time.DateOnly, f.Person.BirthDate); err == nil {
		age := cases.Age(birth, now)
		if fee := cases.ServiceFee(f.Service, now, age, f.Details.Provisional); fee.Cents > 0 {
			wc.Fee = fee.String()
		}
		wc.NoFingers = f.Service == cases.Personalausweis && !cases.FingerprintsTaken(age)
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
	var person *visit.Person
	if visitID != "" {
		ap, err := b.a.Appointment(ctx, visitID)
		if err != nil {
			return nil, lockedErr(err)
		}
		person = &ap.Person
	}
	id, err := b.a.StartDraft(ctx, s, caseworker, prefill(s, person))
	if err != nil {
		return nil, lockedErr(err)
	}
	if err := b.a.updateDraft(ctx, id, func(st *draftState) error {
		st.Step, st.VisitID = flow.Steps[0].Name, visitID
		return nil
	}); err != nil {
		return nil, lockedErr(err)
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
		s := web.CaseSummary{ID: c.ID, Service: cases.Service(c.Service), UpdatedAt: c.UpdatedAt}
		if _, st, err := b.load(ctx, c.ID); err == nil && st != nil {
			s.Step = st.Step
			s.Name = strings.TrimSpace(st.File.Person.GivenNames + " " + st.File.Person.FamilyName)
		}
		out = append(out, s)
	}
	return out, nil
}

// change applies fn to a draft with the version and idempotency checks, then stores it.
func (b *WebBackend) change(ctx context.Context, ch web.Change, fn func(c *store.Case, st *draftState) error) (*web.Case, error) {
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
	if err := b.a.saveDraft(ctx, c.ID, st); err != nil {
		return nil, lockedErr(err)
	}
	return b.toWeb(c, st), nil
}

// SaveStep implements web.Backend: the step's values go into the case file at the paths the
// flow names, and agent/cases checks the case file they add up to; problems of fields on other
// steps wait for those steps.
func (b *WebBackend) SaveStep(ctx context.Context, ch web.Change, step string, in web.StepInput) (*web.Case, error) {
	return b.change(ctx, ch, func(c *store.Case, st *draftState) error {
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
		_, err := f.Validate(b.a.now())
		var ve *cases.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				if _, onStep := in.Fields[p.Field]; onStep && errs[p.Field] == "" {
					errs[p.Field] = p.Hint
				}
			}
		}
		if len(errs) > 0 || in.CheckOnly {
			return &web.ValidationError{Fields: errs}
		}
		if in.Signature != nil {
			if _, err := b.a.AddDraftAttachment(ctx, c.ID, cases.KindSignature, "", in.Signature); err != nil {
				return attachErr(err)
			}
			st.Signed = true
		}
		st.File = f
		maps.Copy(st.UI, in.UI)
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
	return b.change(ctx, ch, func(c *store.Case, st *draftState) error {
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
	return b.change(ctx, ch, func(c *store.Case, st *draftState) error {
		flow, _ := web.FlowOf(cases.Service(c.Service))
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

// CaptureFinger implements web.Backend. Each capture becomes an ISO/IEC 19794-4 record; one
// that reaches the threshold is stored at once (encrypted), poorer ones are kept in memory
// until the operator decides.
func (b *WebBackend) CaptureFinger(ctx context.Context, ch web.Change, finger string) (*web.Case, error) {
	if b.dev.Reader == nil {
		return nil, &devices.Error{Kind: devices.Fingerprint, Code: "fingerprint.not-configured",
			Hint: "Kein Fingerabdruckleser eingerichtet. Den Vorgang später abschließen und die Technik verständigen."}
	}
	return b.change(ctx, ch, func(c *store.Case, st *draftState) error {
		cp := st.capture()
		if _, p := cp.CheckAction(cases.ActionCapture, finger, ""); p != nil {
			return &web.ValidationError{Fields: map[string]string{"": p.Hint}}
		}
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
		rec, err := fingerRecord(finger, img, score)
		if err != nil {
			return err
		}
		cp.Attempts = append(cp.Attempts, cases.FingerAttempt{Finger: finger, Quality: score.Value, Method: string(score.Method)})
		b.images[imageKey(c.ID, finger, len(cp.Attempts)-1)] = rec
		for _, h := range cp.Hands() {
			if h.Finger == finger && h.Status == cases.HandCaptured && !st.Attached[h.Hand] {
				if _, err := b.a.AddDraftAttachment(ctx, c.ID, cases.KindFingerprint, finger, rec); err != nil {
					return attachErr(err)
				}
				st.Attached[h.Hand] = true
				b.forgetImages(c.ID, finger)
			}
		}
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

func imageKey(caseID, finger string, attempt int) string {
	return caseID + "/" + finger + "/" + strconv.Itoa(attempt)
}

// forgetImages drops the held images of one finger (or, with finger "", of the whole case).
func (b *WebBackend) forgetImages(caseID, finger string) {
	prefix := caseID + "/"
	if finger != "" {
		prefix += finger + "/"
	}
	for k, img := range b.images {
		if strings.HasPrefix(k, prefix) {
			clear(img)
			delete(b.images, k)
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

// DecideFinger implements web.Backend.
func (b *WebBackend) DecideFinger(ctx context.Context, ch web.Change, d cases.FingerDecision) (*web.Case, error) {
	return b.change(ctx, ch, func(c *store.Case, st *draftState) error {
		cp := st.capture()
		if _, p := cp.CheckAction(d.Action, d.Finger, d.Reason); p != nil {
			return &web.ValidationError{Fields: map[string]string{"": p.Hint}}
		}
		if d.Action == cases.FingerAccept {
			best, at := -1, -1
			for i, a := range cp.Attempts {
				if a.Finger == d.Finger && a.Quality > best {
					best, at = a.Quality, i
				}
			}
			img := b.images[imageKey(c.ID, d.Finger, at)]
			if img == nil {
				return &web.ValidationError{Fields: map[string]string{"": "Die Aufnahme ist nicht mehr vorhanden (Neustart oder Sperre). Bitte den Finger erneut erfassen oder den nächsten Finger nehmen."}}
			}
			if _, err := b.a.AddDraftAttachment(ctx, c.ID, cases.KindFingerprint, d.Finger, img); err != nil {
				return attachErr(err)
			}
			st.Attached[d.Hand] = true
		}
		b.forgetImages(c.ID, d.Finger)
		cp.Decisions = append(cp.Decisions, d)
		return nil
	})
}

// Seal implements web.Backend: SealDraft checks and seals the draft with the same rules as
// `koffer case submit`.
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
	if _, err := b.a.SealDraft(ctx, c.ID, ch.Caseworker); err != nil {
		return nil, attachErr(err)
	}
	b.forgetImages(c.ID, "")
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
