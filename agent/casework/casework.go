// Package casework is the application core of the kit: drafts captured step by step, their
// attachments and the fingerprint procedure, sealing (the one path from a case file to the
// outbox, for the CLI's submit and the UI alike), the day's visits, the state of the queue and
// the devices. It owns the case model; agent/cases holds the rules it applies. The caseworker
// UI (agent/web) and the local API are adapters over it; package agent only wires it.
package casework

import (
	"context"
	"crypto/cipher"
	"errors"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"koffer/agent/cases"
	"koffer/agent/documents"
	"koffer/agent/localapi"
	"koffer/agent/photo"
	"koffer/devices/fingerprint"
	"koffer/devices/ipp"
	"koffer/store"
	"koffer/sync/packet"
	"koffer/sync/uplink"
	"koffer/sync/visit"
)

// Printer prints a document; *ipp.Client and *sim.Printer have it.
type Printer interface {
	Print(ctx context.Context, doc ipp.Document, onUpdate func(ipp.JobStatus)) (ipp.Result, error)
}

// DocumentScanner scans one document and returns it as PDF, JPEG or PNG.
type DocumentScanner interface {
	ScanDocument(ctx context.Context) ([]byte, error)
}

// Devices are the devices the core drives. A nil device shows as "not set up".
type Devices struct {
	Printer  Printer
	Scanner  DocumentScanner
	Reader   fingerprint.Reader
	Scorer   fingerprint.Scorer // default fingerprint.Estimate{}
	Training bool               // the devices are simulators
}

// Keys hands out the data key while a caseworker is logged in, store.ErrNoKey otherwise.
type Keys interface {
	DataKey() (cipher.AEAD, error)
}

// Sealer writes a packet; *packet.Sealer is one.
type Sealer interface {
	Seal(w io.Writer, m packet.Manifest, parts []packet.Part) (packet.Manifest, error)
}

// Visits are the appointments of the stored visit packs.
type Visits interface {
	Visits(ctx context.Context, day string) ([]Appointment, error)
	Appointment(ctx context.Context, visitID string) (*visit.Appointment, error)
}

// Appointment is one appointment with the kit's id for it ("PACK/APPOINTMENT").
type Appointment struct {
	ID string
	visit.Appointment
}

// Options are the core's dependencies; zero values mean the default where there is one.
type Options struct {
	Store   *store.Store
	Keys    Keys
	Sealer  Sealer
	KitID   string
	Visits  Visits
	Devices Devices
	// Uplink reports the uplink's state; nil or ok false: the kit has none.
	Uplink func() (s uplink.State, ok bool)
	// DeviceStates lists the kit's devices for the start page (e.g. from the kit profile, the
	// list `koffer status` shows too); nil: one line per device of Devices.
	DeviceStates func(ctx context.Context) []Device
	Authority    documents.Authority // letterhead of printed certificates
	Place        string              // place of issue
	Training     bool
	OnSealed     func(caseID string) // after a packet is durably in the outbox
	// DigestKey keys the digest that tells a CLI retry from a conflicting reuse of a case id.
	DigestKey []byte
	// Damaged reports a database found damaged at start: no new cases are taken then.
	Damaged func() error
	Now     func() time.Time
	Logger  *slog.Logger
}

// Core is the application core. Its methods are safe for concurrent use: a change holds the
// lock of its case (not of the kit), a device its own lock for the length of a job.
type Core struct {
	opts Options
	log  *slog.Logger

	caseMu sync.Mutex
	cases  map[string]*sync.Mutex // per-case locks
	devMu  [3]sync.Mutex          // printer, scanner, reader: one job at a time each

	printMu   sync.Mutex
	printJobs map[string]int // training only: caseID/doc -> the simulated printer's job
}

// New returns a core over opts.
func New(opts Options) *Core {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Devices.Scorer == nil {
		opts.Devices.Scorer = fingerprint.Estimate{}
	}
	if opts.Authority.Name == "" {
		opts.Authority.Name = "Bürgeramt"
	}
	return &Core{opts: opts, log: opts.Logger.With("subsystem", "casework"), cases: map[string]*sync.Mutex{},
		printJobs: map[string]int{}}
}

// SetDevices replaces the devices (the daemon builds them after the core).
func (k *Core) SetDevices(d Devices) {
	if d.Scorer == nil {
		d.Scorer = fingerprint.Estimate{}
	}
	k.opts.Devices = d
}

func (k *Core) now() time.Time { return k.opts.Now() }

// lockCase serialises the changes of one case; other cases go on.
func (k *Core) lockCase(id string) func() {
	k.caseMu.Lock()
	m := k.cases[id]
	if m == nil {
		m = &sync.Mutex{}
		k.cases[id] = m
	}
	k.caseMu.Unlock()
	m.Lock()
	return m.Unlock
}

// Errors the core returns where its clients branch.
var (
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
	// CheckOnly asks for the core's field errors without storing anything: the page found
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
	// Step and Unsaved: a device action (scan, photo, print) keeps the step's form values
	// that were not saved yet, so ticks and choices survive the reload; saving the step
	// clears them.
	Step    string
	Unsaved map[string]string
}

// Overview is what the start page shows.
type Overview struct {
	Now     time.Time
	Visits  []Visit
	Queue   Queue
	Uplink  Uplink
	Devices []Device
	// DatabaseDamaged: the start-up quick check found the database damaged; the start page
	// says so (DamagedHint).
	DatabaseDamaged bool
}

// Visit is one booked appointment from the visit pack.
type Visit struct {
	ID       string
	Time     string // "10:30"
	Name     string
	Place    string
	Services []cases.Service
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
	Code     string // stable code of a state that needs the town hall or a technician (uplink.revoked)
	LastSync time.Time
}

// Device is one device's line on the start page: the same type, and so the same list, as
// `koffer status --json` (Ready, Training; Hint is the German reason when it is not ready).
type Device = localapi.Device

// Case is a case as the UI sees it.
type Case struct {
	ID        string
	Service   cases.Service
	State     string // draft, sealed
	Version   int
	Step      string // the step to resume at
	VisitID   string
	Prefilled []string          // case-file paths the visit pack filled
	Values    map[string]string // case-file path -> value, and the UI-only values by name
	Scans     map[string]int    // part -> pages
	Printed   map[string]bool
	// TrainingPrints are the printed documents the training printer shows (TrainingPrint).
	TrainingPrints map[string]bool
	Signed         bool // a signature is stored
	// Files are the stored files by part ("foto", "unterschrift", a scan part), for previews.
	Files map[string]int
	// Unsaved are the form values kept with a device action, by step and field name.
	Unsaved map[string]map[string]string
	// PhotoRules is the photo template for the citizen's age (adults while it is unknown).
	PhotoRules photo.Rules
	Capture    cases.Capture // the fingerprint procedure so far
	NoFingers  bool          // the person is too young to give fingerprints
	// The instructions of the fingerprint and signature steps for this person's age, from the
	// rules (cases.FingerprintInstruction, cases.SignatureInstruction), in German.
	FingerNote, SignatureNote string
	NoSignature               bool   // younger than the service's signature age: none is asked for
	Fee                       string // German, "46,00 EUR", from the fee table
	Late                      bool   // registration after the deadline
	Extract                   []Field
	SealedAt                  time.Time
	PacketSize                int64
	UpdatedAt                 time.Time
}

// Field is a label and a value, e.g. a line of the register extract.
type Field struct {
	Label string
	Value string
}

// CaseSummary is one line of the open drafts list.
type CaseSummary struct {
	ID        string
	Service   cases.Service
	Step      string
	Name      string
	StartedBy string // the caseworker who started the draft
	UpdatedAt time.Time
}

// Event is a state change pushed to open pages.
type Event struct {
	Kind string // "devices", "queue", "uplink", "case"
}

// forgetCaseLock drops the lock of a case that changes no more (sealed). A request still
// waiting on it finds the case sealed.
func (k *Core) forgetCaseLock(id string) {
	k.caseMu.Lock()
	defer k.caseMu.Unlock()
	delete(k.cases, id)
}
