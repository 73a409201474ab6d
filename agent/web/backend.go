package web

import (
	"context"
	"errors"

	"koffer/agent/cases"
	"koffer/agent/casework"
)

// Backend is what the caseworker UI needs from the agent. The agent implements it over the
// store, agent/cases and the devices; tests use webtest.Fake. Every method that changes a case
// takes a Change carrying the version the page was rendered from and an idempotency key, so a
// double submit is harmless and a second tab cannot overwrite a newer draft.
type Backend interface {
	// Login checks a caseworker's passphrase and makes the drafts readable (data key in
	// memory). ErrBadLogin for a wrong name or passphrase.
	Login(ctx context.Context, name, passphrase string) (Caseworker, error)
	// Lock tells the agent a caseworker's session locked or logged out. It ends that
	// caseworker's session only; the others go on. Drafts stay stored.
	Lock(ctx context.Context, caseworker string) error
	// Touch counts a request of the caseworker as activity. ErrLocked when the agent has
	// ended their session (its own idle timer): the page asks for the passphrase again.
	Touch(ctx context.Context, caseworker string) error

	// Overview is the start page: today's visits, the queue, the uplink and the devices.
	Overview(ctx context.Context) (Overview, error)

	// CreateCase starts a draft for a service at step, prefilled from a visit when visitID
	// is set.
	CreateCase(ctx context.Context, caseworker string, service Service, visitID, step string) (*Case, error)
	// Case loads a case. ErrNotFound if there is none.
	Case(ctx context.Context, id string) (*Case, error)
	// Drafts lists the open drafts, oldest first (to resume a case later).
	Drafts(ctx context.Context) ([]CaseSummary, error)
	// DiscardDraft ends a draft without sending it, for a reason code of
	// casework.DiscardReasons; its data and attachments are deleted, the discard audited.
	// *ValidationError without a known reason, ErrSealed when it is no draft any more.
	DiscardDraft(ctx context.Context, caseID, caseworker, reason string) error

	// DraftFile is the newest stored file of a draft's part ("foto", "unterschrift", a scan
	// part), for the preview. ErrNotFound when there is none.
	DraftFile(ctx context.Context, caseID, part string) ([]byte, error)

	// Do applies one step of the flow to the draft c names: casework.SaveStep,
	// casework.Scan, casework.TakePhoto, casework.Print, casework.CaptureFinger,
	// casework.DecideFinger, casework.RecaptureHand or casework.Seal. *ValidationError lists
	// field errors in German, keyed by case-file path (or by UI-only field name); ErrConflict
	// when c.Version is stale; device failures are *devices.Error with a German hint. A change
	// whose Key was already applied returns the case unchanged, no error.
	Do(ctx context.Context, c Change, a casework.Action) (*Case, error)

	// Subscribe delivers state changes (devices, queue, uplink) until ctx ends.
	Subscribe(ctx context.Context) <-chan Event
}

// ErrBadLogin: a wrong name or passphrase.
var ErrBadLogin = errors.New("bad name or passphrase")

// ErrKitRevoked: the town hall revoked this kit (uplink.revoked); nobody can log in any more.
var ErrKitRevoked = errors.New("kit revoked by the town hall")

// The core's errors and types, used as they are: the UI is an adapter over agent/casework.
var (
	ErrConflict = casework.ErrConflict
	ErrNotFound = casework.ErrNotFound
	ErrSealed   = casework.ErrSealed
	ErrLocked   = casework.ErrLocked
	// ErrDatabaseDamaged refuses new cases while the database is damaged; the page shows
	// casework.DamagedHint.
	ErrDatabaseDamaged = casework.ErrDatabaseDamaged
)

type (
	StepInput       = casework.StepInput
	ValidationError = casework.ValidationError
	Change          = casework.Change
	Overview        = casework.Overview
	Visit           = casework.Visit
	Queue           = casework.Queue
	Uplink          = casework.Uplink
	Device          = casework.Device
	Case            = casework.Case
	Field           = casework.Field
	CaseSummary     = casework.CaseSummary
	Event           = casework.Event
)

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
