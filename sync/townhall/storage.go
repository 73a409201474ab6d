package townhall

import (
	"context"
	"errors"
	"time"

	tushandler "github.com/tus/tusd/v2/pkg/handler"

	"koffer/sync/receipt"
)

// The town hall keeps its state behind three small interfaces, each with an embedded default
// for one town (SQLite and files in the data directory) and an implementation for a provider
// running several replicas (PostgreSQL, an S3-compatible object store, tus locks held in
// PostgreSQL with a lease).

// Kit is a kit enrolled at this town hall: its Ed25519 key verifies its packets and seals
// its visit packs.
type Kit struct {
	ID         string
	PublicKey  []byte
	URL        string
	EnrolledAt time.Time
	// Version is the software version the kit last sent with its audit log ("" before that).
	Version string
	// VisitRecipient is the age X25519 recipient the kit registered for its visit packs (""
	// until it does).
	VisitRecipient string
}

// Case is a received case. Receipt is the signed answer, sent again byte for byte when the kit
// commits the same case twice.
type Case struct {
	CaseID     string
	KitID      string
	Service    string
	Number     string
	ReceivedAt time.Time
	SHA256     string
	Size       int64
	Receipt    []byte
}

// UploadRecord is an upload the town hall has seen created (tus upload id -> kit), for the
// back office and for cleaning up abandoned uploads.
type UploadRecord struct {
	ID        string
	KitID     string
	CaseID    string
	Size      int64
	CreatedAt time.Time
	// TusID is tusd's id of the upload once created: ID, or ID+multipart id on S3.
	TusID string
}

// VisitPack is a visit pack sealed to one kit, as GET /v1/visits lists it.
type VisitPack struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// VisitDate (YYYY-MM-DD) is the day the pack is for; it expires after that day.
	VisitDate string `json:"visit_date"`
	Pack      []byte `json:"pack"`
}

// errAuditGap means an audit batch does not continue the stored chain.
var errAuditGap = errors.New("audit batch does not continue the chain")

// Kits are the enrolled kits.
type Kits interface {
	AddKit(ctx context.Context, k Kit) error
	// Kit returns an error matching ErrNotFound for a kit not enrolled here.
	Kit(ctx context.Context, id string) (Kit, error)
	// SetVisitRecipient records the kit's visit-pack recipient the first time; the same one
	// again is fine, another is errRecipientConflict (only re-enrolment may change it), and a
	// kit not enrolled ErrNotFound.
	SetVisitRecipient(ctx context.Context, kitID, recipient string) error
	// SetKitVersion records the software version the kit reported.
	SetKitVersion(ctx context.Context, kitID, version string) error
}

// Cases are the received cases and the uploads they came in.
type Cases interface {
	// Case returns an error matching ErrNotFound for a case not received.
	Case(ctx context.Context, caseID string) (Case, error)
	// Cases lists the received cases in the order they were numbered.
	Cases(ctx context.Context) ([]Case, error)
	// AddCase numbers c and stores it with the receipt sign makes from the number, in one
	// transaction: numbers have no gaps and no duplicates, even with several replicas. If the
	// case is stored already, it returns the stored one and created false.
	AddCase(ctx context.Context, c Case, sign func(number string) ([]byte, error)) (stored Case, created bool, err error)
	// AddUpload records an upload as it is created; one recorded already stays as it is.
	AddUpload(ctx context.Context, u UploadRecord) error
	// Upload returns an error matching ErrNotFound for an upload not recorded (or gone).
	Upload(ctx context.Context, id string) (UploadRecord, error)
	// OpenUploads lists the kit's recorded uploads ("" lists every kit's), oldest first: the
	// quota counts them and the janitor purges the stale ones.
	OpenUploads(ctx context.Context, kitID string) ([]UploadRecord, error)
	// SetUploadTusID records tusd's id of a recorded upload; one not recorded is no error.
	SetUploadTusID(ctx context.Context, id, tusID string) error
	// DeleteUpload forgets an upload that was committed, terminated or purged; one not
	// recorded is no error.
	DeleteUpload(ctx context.Context, id string) error
}

// Visits are the visit packs waiting for their kits.
type Visits interface {
	AddVisit(ctx context.Context, kitID string, v VisitPack) error
	Visits(ctx context.Context, kitID string) ([]VisitPack, error)
	// DeleteVisit removes a kit's pack (the kit acknowledged it); ErrNotFound if it has none
	// of that id.
	DeleteVisit(ctx context.Context, kitID, id string) error
	// ExpireVisits removes every pack whose visit day is before day (YYYY-MM-DD), of any kit.
	ExpireVisits(ctx context.Context, day string) (int64, error)
}

// AuditLogs are the kits' hash-chained audit logs (ids and event names only).
type AuditLogs interface {
	// AuditHead is the sequence number of the last entry stored for the kit (0: none).
	AuditHead(ctx context.Context, kitID string) (int64, error)
	// AddAudit appends entries that continue the stored chain (errAuditGap otherwise);
	// entries stored already are skipped if identical. It returns the new head.
	AddAudit(ctx context.Context, kitID string, entries []receipt.AuditEntry) (int64, error)
	AuditLog(ctx context.Context, kitID string) ([]receipt.AuditEntry, error)
}

// Metadata is everything the town hall keeps apart from packets: SQLite in the data directory
// (the default) or PostgreSQL.
type Metadata interface {
	Kits
	Cases
	Visits
	AuditLogs
	CaseRecords
	Fleet
	StaffAccounts
	TownhallAuditLog
	Close() error
}

// The back office's records (backoffice.go). Each method that acts also appends the town
// hall's audit record it is given, in the same transaction, and only when it changed
// something: an action is never stored without its audit entry, nor audited twice.

// CaseListing is a case as the back office lists it, and whether its packet facts (Late,
// AppliedAt) were read already.
type CaseListing struct {
	CaseSummary
	FactsKnown bool
}

// Handover records that a case went to the registration software.
type Handover struct {
	CaseID string
	At     time.Time
	Actor  string
	Target string
}

// FingerprintDeletion records that a case's fingerprints were deleted at the town hall.
type FingerprintDeletion struct {
	CaseID string
	At     time.Time
	Actor  string
	Rule   string
	Parts  int
}

// CaseRecords are what the back office keeps about received cases.
type CaseRecords interface {
	// CaseListings lists the received cases matching f's kit and service (f.Caseworker is
	// applied by the caller), in the order they were numbered.
	CaseListings(ctx context.Context, f CaseFilter) ([]CaseListing, error)
	// AddCaseFacts keeps what the packet says; facts stored already stay.
	AddCaseFacts(ctx context.Context, caseID string, late bool, appliedAt time.Time) error
	// AddHandover stores h and audit; a case handed over before keeps its first record.
	AddHandover(ctx context.Context, h Handover, audit AuditRecord) error
	// FingerprintsDeleted reports whether the case's fingerprints were deleted already.
	FingerprintsDeleted(ctx context.Context, caseID string) (bool, error)
	AddFingerprintDeletion(ctx context.Context, d FingerprintDeletion, audit AuditRecord) error
}

// Revocation is a kit's revocation; AllowedAt is set when an administrator let it deliver
// what it sealed before.
type Revocation struct {
	KitID     string
	At        time.Time
	Actor     string
	Reason    string
	AllowedAt time.Time
	AllowedBy string
}

// KitContact is what the town hall saw of a kit on a request.
type KitContact struct {
	KitID        string
	At           time.Time
	CertNotAfter time.Time
	Version      string
}

// KitQueue is what waits in a kit's outbox, as it reported at At (counts only).
type KitQueue struct {
	KitID  string
	At     time.Time
	Depth  int
	Parked int
	// OldestSince is when the oldest waiting packet was sealed, in the town hall's time (At
	// minus the age the kit reported); zero when nothing waits.
	OldestSince time.Time
}

// Fleet is the enrolled kits as the back office sees them: contact, queue and revocation.
type Fleet interface {
	Fleet(ctx context.Context) ([]KitStatus, error)
	// NoteContact records c, at most once a minute per kit unless the version changed (tus
	// sends many requests per case).
	NoteContact(ctx context.Context, c KitContact) error
	// SetKitQueue records the kit's queue report, replacing the one before (a kit's requests
	// come one after the other).
	SetKitQueue(ctx context.Context, q KitQueue) error
	// Revoke stores r and audit; revoking again changes nothing.
	Revoke(ctx context.Context, r Revocation, audit AuditRecord) error
	// Revocation returns the kit's revocation; ok is false when it is not revoked.
	Revocation(ctx context.Context, kitID string) (r Revocation, ok bool, err error)
	// AllowSealedBeforeRevocation records the administrator's decision (audit.At, audit.Actor)
	// and audit; ErrNotFound when the kit is not revoked or allowed already.
	AllowSealedBeforeRevocation(ctx context.Context, kitID string, audit AuditRecord) error
}

// StaffAccounts are the back office's accounts.
type StaffAccounts interface {
	// AddStaff stores s and audit; ErrExists if the name is taken.
	AddStaff(ctx context.Context, s Staff, audit AuditRecord) error
	// Staff returns ErrNotFound for no such account.
	Staff(ctx context.Context, name string) (Staff, error)
}

// TownhallAuditLog is the town hall's own hash-chained audit log; never updated, never
// deleted. Entries are chained by chainAudit in both stores.
type TownhallAuditLog interface {
	AppendAudit(ctx context.Context, e AuditRecord) error
	// TownhallAudit returns the newest limit entries, newest first.
	TownhallAudit(ctx context.Context, limit int) ([]AuditRecord, error)
	// TownhallAuditChain returns every entry, oldest first, with the hashes stored.
	TownhallAuditChain(ctx context.Context) ([]ChainedAuditRecord, error)
	// KitAuditEvents returns the entries of event about kitID, oldest first.
	KitAuditEvents(ctx context.Context, event, kitID string) ([]AuditRecord, error)
}

// ChainedAuditRecord is an audit entry with its stored chain hashes.
type ChainedAuditRecord struct {
	AuditRecord
	PrevHash []byte
	Hash     []byte
}

// Packets keeps committed packets durably: files in the data directory or objects in S3.
type Packets interface {
	// PutPacket stores the packet of a case; storing the same case again overwrites it.
	PutPacket(ctx context.Context, caseID string, data []byte) error
	// Packet returns an error matching ErrNotFound for a packet not stored.
	Packet(ctx context.Context, caseID string) ([]byte, error)
	// DeletePacket removes a case's packet; one not stored is no error.
	DeletePacket(ctx context.Context, caseID string) error
	// PutRedacted stores the copy of a case kept after its fingerprints were deleted.
	PutRedacted(ctx context.Context, caseID string, data []byte) error
	// Redacted returns an error matching ErrNotFound when there is no such copy.
	Redacted(ctx context.Context, caseID string) ([]byte, error)
}

// Uploads holds tus uploads while they arrive, and the locks that keep two requests off one
// upload: tusd's filestore and an in-process locker, or tusd's s3store and locks that hold
// across replicas.
type Uploads interface {
	UseIn(c *tushandler.StoreComposer)
}

// errRecipientConflict means the kit already registered another visit-pack recipient.
var errRecipientConflict = errors.New("another visit recipient is registered")
