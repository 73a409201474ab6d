// Package webtest holds an in-memory test double of web.Backend for the handler and browser
// tests of agent/web. It is not the agent: nothing here is durable and devices are scripted; the
// rules are agent/cases' own. Never wire it into the daemon.
package webtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"koffer/agent/cases"
	"koffer/agent/web"
	"koffer/devices"
)

var _ web.Backend = (*Fake)(nil)

// Fake is an in-memory Backend. Set the exported fields before serving; they are read under the
// fake's lock and may be changed later with Update.
type Fake struct {
	Now func() time.Time // default time.Now

	mu        sync.Mutex
	users     map[string]string // name -> passphrase
	visits    []web.Visit
	prefill   map[string]map[string]string // visit id -> values
	extracts  map[string][]web.Field
	cases     map[string]*web.Case
	applied   map[string]map[string]bool // case -> idempotency keys
	seq       int
	overview  web.Overview
	subs      []chan web.Event
	printErr  error
	scanErr   error
	qualities []int // next capture qualities; 80 when empty

	// Counters for assertions.
	Prints   map[string]int // doc -> count
	Seals    int
	Locks    int
	Captures int
}

// New returns a fake with one caseworker "anna" / "korrekt pferd batterie", two visits and
// ready simulated devices.
func New() *Fake {
	f := &Fake{
		users:    map[string]string{"anna": "korrekt pferd batterie"},
		cases:    map[string]*web.Case{},
		applied:  map[string]map[string]bool{},
		Prints:   map[string]int{},
		prefill:  map[string]map[string]string{},
		extracts: map[string][]web.Field{},
	}
	f.visits = []web.Visit{
		{ID: "v1", Time: "10:00", Name: "Erika Mustermann", Place: "Seniorenheim Am Park, Zimmer 12",
			Services: []web.Service{web.Personalausweis, web.Meldebescheinigung}},
		{ID: "v2", Time: "11:30", Name: "Hans Beispiel", Place: "Lindenstraße 4, 2. OG",
			Services: []web.Service{web.Wohnsitzanmeldung, web.Lebensbescheinigung}},
	}
	f.prefill["v1"] = map[string]string{"person.family_name": "Mustermann", "person.given_names": "Erika", "person.birth_date": "1943-08-12",
		"person.birth_place": "Köln", "person.nationality": "DEU", "person.address.street": "Parkallee", "person.address.house_number": "3",
		"person.address.postal_code": "50667", "person.address.city": "Köln"}
	f.prefill["v2"] = map[string]string{"person.family_name": "Beispiel", "person.given_names": "Hans", "person.birth_date": "1950-03-01",
		"person.birth_place": "Bremen", "person.nationality": "DEU", "person.address.street": "Lindenstraße", "person.address.house_number": "4",
		"person.address.postal_code": "28195", "person.address.city": "Bremen"}
	f.extracts["v1"] = []web.Field{{Label: "Name", Value: "Erika Mustermann"}, {Label: "Geburtsdatum", Value: "12.08.1943"},
		{Label: "Anschrift", Value: "Parkallee 3, 50667 Köln"}, {Label: "Meldestatus", Value: "Hauptwohnung seit 01.04.1998"}}
	f.overview = web.Overview{
		Queue:  web.Queue{},
		Uplink: web.Uplink{Online: false, Detail: "Kein Mobilfunk. Vorgänge werden später übertragen."},
		Devices: []web.Device{
			{Kind: "printer", Name: "Simulation", Ready: true, Training: true},
			{Kind: "scanner", Name: "Simulation", Ready: true, Training: true},
			{Kind: "fingerprint", Name: "Simulation", Ready: true, Training: true},
		},
	}
	return f
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// SetOverview replaces queue, uplink and devices and notifies subscribers.
func (f *Fake) SetOverview(q web.Queue, u web.Uplink, d []web.Device) {
	f.mu.Lock()
	f.overview.Queue, f.overview.Uplink, f.overview.Devices = q, u, d
	f.mu.Unlock()
	f.Publish(web.Event{Kind: "devices"})
}

// FailPrint makes the next prints fail with err (nil clears it).
func (f *Fake) FailPrint(err error) { f.mu.Lock(); f.printErr = err; f.mu.Unlock() }

// FailScan makes the next scans fail with err (nil clears it).
func (f *Fake) FailScan(err error) { f.mu.Lock(); f.scanErr = err; f.mu.Unlock() }

// QueueQualities scripts the quality of the next captures.
func (f *Fake) QueueQualities(q ...int) {
	f.mu.Lock()
	f.qualities = append(f.qualities, q...)
	f.mu.Unlock()
}

// Publish sends an event to every subscriber.
func (f *Fake) Publish(ev web.Event) {
	f.mu.Lock()
	subs := slices.Clone(f.subs)
	f.mu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Login implements web.Backend.
func (f *Fake) Login(_ context.Context, name, pass string) (web.Caseworker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.users[name]; !ok || p != pass {
		return web.Caseworker{}, web.ErrBadLogin
	}
	return web.Caseworker{Name: name, Display: strings.ToUpper(name[:1]) + name[1:]}, nil
}

// Lock implements web.Backend.
func (f *Fake) Lock(context.Context, string) error {
	f.mu.Lock()
	f.Locks++
	f.mu.Unlock()
	return nil
}

// Overview implements web.Backend.
func (f *Fake) Overview(context.Context) (web.Overview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ov := f.overview
	ov.Now = f.now()
	ov.Visits = slices.Clone(f.visits)
	ov.Devices = slices.Clone(f.overview.Devices)
	return ov, nil
}

// CreateCase implements web.Backend.
func (f *Fake) CreateCase(_ context.Context, _ string, s web.Service, visitID, step string) (*web.Case, error) {
	if _, ok := web.FlowOf(s); !ok {
		return nil, fmt.Errorf("unknown service %q", s)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	c := &web.Case{
		ID: fmt.Sprintf("0190a1b2-0000-7000-8000-%012d", f.seq), Service: s, State: "draft", Version: 1,
		Step: step, VisitID: visitID, Values: maps.Clone(f.prefill[visitID]),
		Scans: map[string]int{}, Printed: map[string]bool{}, UpdatedAt: f.now(),
	}
	if c.Values == nil {
		c.Values = map[string]string{}
	}
	if s == web.Meldebescheinigung {
		c.Extract = f.extracts[visitID]
		if c.Extract == nil {
			c.Extract = []web.Field{{Label: "Hinweis", Value: "Kein Registerauszug im Besuchspaket."}}
		}
	}
	f.fee(c)
	f.cases[c.ID] = c
	f.applied[c.ID] = map[string]bool{}
	return clone(c), nil
}

func clone(c *web.Case) *web.Case {
	cp := *c
	cp.Values = maps.Clone(c.Values)
	cp.Scans = maps.Clone(c.Scans)
	cp.Printed = maps.Clone(c.Printed)
	cp.Capture.Attempts = slices.Clone(c.Capture.Attempts)
	cp.Capture.Decisions = slices.Clone(c.Capture.Decisions)
	return &cp
}

// Case implements web.Backend.
func (f *Fake) Case(_ context.Context, id string) (*web.Case, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cases[id]
	if !ok {
		return nil, web.ErrNotFound
	}
	return clone(c), nil
}

// Drafts implements web.Backend.
func (f *Fake) Drafts(context.Context) ([]web.CaseSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []web.CaseSummary
	for _, c := range f.cases {
		if c.State == "draft" {
			out = append(out, web.CaseSummary{ID: c.ID, Service: c.Service, Step: c.Step,
				Name: strings.TrimSpace(c.Values["person.given_names"] + " " + c.Values["person.family_name"]), UpdatedAt: c.UpdatedAt})
		}
	}
	slices.SortFunc(out, func(a, b web.CaseSummary) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// change runs fn on a draft under the lock with the idempotency and version checks.
func (f *Fake) change(ch web.Change, fn func(c *web.Case) error) (*web.Case, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cases[ch.CaseID]
	if !ok {
		return nil, web.ErrNotFound
	}
	if f.applied[c.ID][ch.Key] {
		return clone(c), nil
	}
	if c.State != "draft" {
		return nil, web.ErrSealed
	}
	if ch.Version != c.Version {
		return nil, web.ErrConflict
	}
	work := clone(c)
	if err := fn(work); err != nil {
		return nil, err
	}
	work.Version++
	work.UpdatedAt = f.now()
	if ch.Next != "" {
		work.Step = ch.Next
	}
	f.cases[c.ID] = work
	f.applied[c.ID][ch.Key] = true
	return clone(work), nil
}

// SaveStep implements web.Backend.
func (f *Fake) SaveStep(_ context.Context, ch web.Change, step string, in web.StepInput) (*web.Case, error) {
	return f.change(ch, func(c *web.Case) error {
		if flow, _ := web.FlowOf(c.Service); flow.StepIndex(step) < 0 {
			return &web.ValidationError{Fields: map[string]string{"": "Unbekannter Schritt."}}
		}
		if errs := validate(c, in.Fields, f.now()); len(errs) > 0 || in.CheckOnly {
			return &web.ValidationError{Fields: errs}
		}
		maps.Copy(c.Values, in.Fields)
		maps.Copy(c.Values, in.UI)
		c.Signed = c.Signed || in.Signature != nil
		f.fee(c)
		return nil
	})
}

// Scan implements web.Backend.
func (f *Fake) Scan(_ context.Context, ch web.Change, part string) (*web.Case, error) {
	return f.change(ch, func(c *web.Case) error {
		if f.scanErr != nil {
			return f.scanErr
		}
		c.Scans[part]++
		return nil
	})
}

// Print implements web.Backend.
func (f *Fake) Print(_ context.Context, ch web.Change, doc string) (*web.Case, error) {
	return f.change(ch, func(c *web.Case) error {
		if f.printErr != nil {
			return f.printErr
		}
		c.Printed[doc] = true
		f.Prints[doc]++
		return nil
	})
}

// CaptureFinger implements web.Backend.
func (f *Fake) CaptureFinger(_ context.Context, ch web.Change, finger string) (*web.Case, error) {
	return f.change(ch, func(c *web.Case) error {
		q := 80
		if len(f.qualities) > 0 {
			q, f.qualities = f.qualities[0], f.qualities[1:]
		}
		f.Captures++
		c.Capture.Attempts = append(c.Capture.Attempts, cases.FingerAttempt{Finger: finger, Quality: q, Method: cases.MethodNFIQ2})
		return nil
	})
}

// DecideFinger implements web.Backend.
func (f *Fake) DecideFinger(_ context.Context, ch web.Change, d cases.FingerDecision) (*web.Case, error) {
	return f.change(ch, func(c *web.Case) error {
		c.Capture.Decisions = append(c.Capture.Decisions, d)
		return nil
	})
}

// Seal implements web.Backend.
func (f *Fake) Seal(_ context.Context, ch web.Change) (*web.Case, error) {
	return f.change(ch, func(c *web.Case) error {
		flow, _ := web.FlowOf(c.Service)
		if len(validate(c, c.Values, f.now())) > 0 {
			return &web.ValidationError{Fields: map[string]string{"": "Es fehlen noch Angaben. Bitte die Schritte prüfen."}}
		}
		c.State, c.SealedAt, c.Step = "sealed", f.now(), flow.Steps[len(flow.Steps)-1].Name
		f.Seals++
		f.overview.Queue.Waiting++
		if f.overview.Queue.Oldest.IsZero() {
			f.overview.Queue.Oldest = f.now()
		}
		return nil
	})
}

// Subscribe implements web.Backend.
func (f *Fake) Subscribe(ctx context.Context) <-chan web.Event {
	ch := make(chan web.Event, 8)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		f.subs = slices.DeleteFunc(f.subs, func(c chan web.Event) bool { return c == ch })
		f.mu.Unlock()
	}()
	return ch
}

func (f *Fake) fee(c *web.Case) {
	file := caseFile(c, nil)
	birth, err := time.Parse(time.DateOnly, file.Person.BirthDate)
	switch {
	case c.Service != web.Personalausweis:
		c.Fee = "gebührenfrei"
	case err != nil:
		c.Fee = "wird nach dem Geburtsdatum berechnet"
	default:
		now := f.now()
		c.Fee = cases.ServiceFee(c.Service, now, cases.Age(birth, now), false).String()
		c.NoFingers = !cases.FingerprintsTaken(cases.Age(birth, now))
	}
	if moved, err := time.Parse(time.DateOnly, file.Details.MoveInDate); err == nil {
		c.Late = cases.RegistrationLate(moved, f.now())
	}
}

// caseFile is the case file of the fake's values with fields applied on top.
func caseFile(c *web.Case, fields map[string]string) *cases.File {
	file := &cases.File{Service: c.Service}
	for _, vals := range []map[string]string{c.Values, fields} {
		for k, v := range vals {
			_ = file.Set(k, v) // UI-only keys are no paths
		}
	}
	return file
}

// validate applies the rules of agent/cases to the fields of one step, as the agent does; the
// fake keeps no attachments, so their rules are left out.
func validate(c *web.Case, fields map[string]string, now time.Time) map[string]string {
	errs := map[string]string{}
	file := caseFile(c, fields)
	_, err := file.Validate(now)
	var ve *cases.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			if _, ok := fields[p.Field]; ok && errs[p.Field] == "" {
				errs[p.Field] = p.Hint
			}
		}
	}
	return errs
}

// PrinterOutOfPaper is the device error the real printer reports for media-empty.
var PrinterOutOfPaper = &devices.Error{Kind: devices.Printer, Code: "printer.media-empty",
	Hint: "Papier einlegen und auf Weiter tippen.", Err: errors.New("media-empty")}
