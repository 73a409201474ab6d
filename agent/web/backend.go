package web

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"koffer/agent/cases"
)

// Backend is what the caseworker UI needs from the agent. The agent implements it over the
// store, agent/cases and the devices; tests use webtest.Fake. Every method that changes a case
// takes a Change carrying the version the page was rendered from and an idempotency key, so a
// double submit is harmless and a second tab cannot overwrite a newer draft.
type Backend interface {
	// Login checks a caseworker's passphrase and makes the drafts readable (data key in
	// memory). ErrBadLogin for a wrong name or passphrase.
	Login(ctx context.Context, name, passphrase string) (Caseworker, error)
	// Lock tells the agent a caseworker's session locked or logged out. Drafts stay stored.
	Lock(ctx context.Context, caseworker string) error

	// Overview is the start page: today's visits, the queue, the uplink and the devices.
	Overview(ctx context.Context) (Overview, error)

	// CreateCase starts a draft for a service, prefilled from a visit when visitID is set.
	CreateCase(ctx context.Context, caseworker string, service Service, visitID string) (*Case, error)
	// Case loads a case. ErrNotFound if there is none.
	Case(ctx context.Context, id string) (*Case, error)
	// Drafts lists the open drafts, oldest first (to resume a case later).
	Drafts(ctx context.Context) ([]CaseSummary, error)

	// SaveStep validates and durably stores one step's values and moves the case to step
	// c.Next. *ValidationError lists field errors in German, keyed by case-file path (or by
	// UI-only field name); ErrConflict when c.Version is stale. A change whose Key was already
	// applied returns the case unchanged, no error.
	SaveStep(ctx context.Context, c Change, step string, in StepInput) (*Case, error)
	// Scan scans a document into the case as part (e.g. "vermieter", "formular", "foto").
	// Device failures are *devices.Error with a German hint.
	Scan(ctx context.Context, c Change, part string) (*Case, error)
	// Print prints a document of the case (DocForm, DocConfirmation...).
	Print(ctx context.Context, c Change, doc string) (*Case, error)
	// CaptureFinger takes one capture attempt of finger (e.g. "right_index") and records its
	// quality.
	CaptureFinger(ctx context.Context, c Change, finger string) (*Case, error)
	// DecideFinger records an operator decision for a hand.
	DecideFinger(ctx context.Context, c Change, d cases.FingerDecision) (*Case, error)
	// Seal validates the whole case, seals it into a packet with an outbox row and forgets
	// the draft. *ValidationError if something is missing.
	Seal(ctx context.Context, c Change) (*Case, error)

	// Subscribe delivers state changes (devices, queue, uplink) until ctx ends.
	Subscribe(ctx context.Context) <-chan Event
}

// Errors a Backend returns where the UI branches.
var (
	ErrBadLogin = errors.New("bad name or passphrase")
	ErrConflict = errors.New("case changed since the page was shown")
	ErrNotFound = errors.New("case not found")
	ErrSealed   = errors.New("case is sealed")
	// ErrLocked means the agent has no data key (it locked itself); the UI asks for the
	// passphrase again.
	ErrLocked = errors.New("drafts locked: log in again")
)

// StepInput is what one step sends: the values of the fields that fill the case file, keyed
// by case-file path and in the case file's form, the UI-only values, and a signature drawn on
// the pad.
type StepInput struct {
	Fields    map[string]string
	UI        map[string]string
	Signature []byte // PNG, nil when none was drawn
	// CheckOnly asks for the backend's field errors without storing anything: the page found
	// errors of its own and shows all of them at once.
	CheckOnly bool
}

// ValidationError carries field errors in German, keyed by case-file path or UI-only field
// name. Field "" is for errors of the whole step.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "invalid fields: " + strings.Join(keys, ", ")
}

// Change identifies one state-changing request on a case.
type Change struct {
	CaseID     string
	Version    int    // the case version the page showed
	Key        string // idempotency key, one per rendered form
	Caseworker string
	Next       string // the step the case moves to when the change succeeds ("" = stay)
}

// Caseworker is a logged-in member of staff.
type Caseworker struct {
	Name    string // login name
	Display string // shown in the header
}

// Service is one of the four services of agent/cases.
type Service = cases.Service

const (
	Personalausweis     = cases.Personalausweis
	Lebensbescheinigung = cases.Lebensbescheinigung
	Meldebescheinigung  = cases.Meldebescheinigung
	Wohnsitzanmeldung   = cases.Wohnsitzanmeldung
)

// Documents a case prints.
const (
	DocReceipt      = cases.DocReceipt
	DocConfirmation = cases.DocConfirmation
	DocRegister     = cases.DocRegister
	DocForm         = cases.DocForm
	DocRegistration = cases.DocRegistration
)

// Overview is what the start page shows.
type Overview struct {
	Now     time.Time
	Visits  []Visit
	Queue   Queue
	Uplink  Uplink
	Devices []Device
}

// Visit is one booked appointment from the visit pack.
type Visit struct {
	ID       string
	Time     string // "10:30"
	Name     string
	Place    string
	Services []Service
}

// Queue summarises the outbox.
type Queue struct {
	Waiting int
	Oldest  time.Time // zero when empty
	Failed  int       // parked, needs a technician
}

// Uplink is the state of the connection to the town hall.
type Uplink struct {
	Online   bool
	Sending  bool
	Progress int    // percent of the current packet
	Detail   string // German, e.g. "Keine Verbindung zum Rathaus"
	LastSync time.Time
}

// Device is one device's readiness.
type Device struct {
	Kind     string // printer, scanner, fingerprint
	Name     string // model, or "Simulation"
	Ready    bool
	Reason   string // German reason and what to do, when not ready
	Training bool   // a simulator
}

// Case is a case as the UI sees it.
type Case struct {
	ID         string
	Service    Service
	State      string // draft, sealed
	Version    int
	Step       string // the step to resume at
	VisitID    string
	Values     map[string]string // by FieldDef.Key: case-file path, or UI-only field name
	Scans      map[string]int    // part -> pages
	Printed    map[string]bool
	Signed     bool          // a signature is stored
	Capture    cases.Capture // the fingerprint procedure so far
	NoFingers  bool          // the person is too young to give fingerprints
	Fee        string        // German, "46,00 EUR", from the fee table
	Late       bool          // registration after the deadline
	Extract    []Field
	SealedAt   time.Time
	PacketSize int64
	UpdatedAt  time.Time
}

// Field is a label and a value, e.g. a line of the register extract.
type Field struct {
	Label string
	Value string
}

// CaseSummary is one line of the open drafts list.
type CaseSummary struct {
	ID        string
	Service   Service
	Step      string
	Name      string
	UpdatedAt time.Time
}

// Event is a state change pushed to open pages.
type Event struct {
	Kind string // "devices", "queue", "uplink", "case"
}

// Technician is what the Technik page needs from the backend; without it the page says the
// report is not available. It is the report of `koffer doctor`, run by the agent.
type Technician interface {
	Technik(ctx context.Context) (TechReport, error)
}

// TechReport is the technician's report: one line per check.
type TechReport struct {
	Status string // ok, warn or fail: the worst of the checks
	Checks []TechCheck
}

// TechCheck is one check: its name, ok/warn/fail, what was measured, the code for the
// technician and the German hint for the fix.
type TechCheck struct {
	Name, Status, Value, Code, Hint string
}
