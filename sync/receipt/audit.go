package receipt

import "time"

// AuditEntry is one link of a kit's hash-chained audit log as it travels to the town hall
// (POST /v1/audit takes a JSON array of them; GET /v1/audit answers AuditHead).
type AuditEntry struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Event    string    `json:"event"`
	CaseID   string    `json:"case_id,omitempty"`
	Actor    string    `json:"actor"`
	PrevHash []byte    `json:"prev_hash"`
	Hash     []byte    `json:"hash"`
}

// VersionHeader carries the kit's software version (koffer version) on its audit batches, so
// the town hall's fleet view can show which kit runs what.
const VersionHeader = "Koffer-Version"

// AuditHead is how far the town hall holds a kit's audit log (0: nothing yet).
type AuditHead struct {
	LastSeq int64 `json:"last_seq"`
}

// CodeAuditGap refuses an audit batch that does not continue the chain the town hall holds;
// the kit asks GET /v1/audit again and sends from there.
const CodeAuditGap = "audit_gap"
