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
}

// VisitPack is a visit pack sealed to one kit, as GET /v1/visits lists it.
type VisitPack struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Pack      []byte    `json:"pack"`
}

// errAuditGap means an audit batch does not continue the stored chain.
var errAuditGap = errors.New("audit batch does not continue the chain")

// Kits are the enrolled kits.
type Kits interface {
	AddKit(ctx context.Context, k Kit) error
	// Kit returns an error matching ErrNotFound for a kit not enrolled here.
	Kit(ctx context.Context, id string) (Kit, error)
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
	AddUpload(ctx context.Context, u UploadRecord) error
}

// Visits are the visit packs waiting for their kits.
type Visits interface {
	AddVisit(ctx context.Context, kitID string, v VisitPack) error
	Visits(ctx context.Context, kitID string) ([]VisitPack, error)
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
	Close() error
}

// Packets keeps committed packets durably: files in the data directory or objects in S3.
type Packets interface {
	// PutPacket stores the packet of a case; storing the same case again overwrites it.
	PutPacket(ctx context.Context, caseID string, data []byte) error
	// Packet returns an error matching ErrNotFound for a packet not stored.
	Packet(ctx context.Context, caseID string) ([]byte, error)
}

// Uploads holds tus uploads while they arrive, and the locks that keep two requests off one
// upload: tusd's filestore and an in-process locker, or tusd's s3store and locks that hold
// across replicas.
type Uploads interface {
	UseIn(c *tushandler.StoreComposer)
}
