package receipt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

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

// AuditHash is the hash of one audit entry as the kit computes it (store.auditHash): SHA-256
// over length-prefixed fields (8-byte big-endian length, then the bytes) of the previous
// entry's hash, the sequence number and the time in Unix milliseconds (each 8 bytes big
// endian), the event, the case id and the actor. The first entry's previous hash is 32 zero
// bytes. The town hall recomputes it to check each kit's chain.
func AuditHash(prev []byte, seq, atMS int64, event, caseID, actor string) []byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field(prev)
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	field(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(atMS))
	field(n[:])
	field([]byte(event))
	field([]byte(caseID))
	field([]byte(actor))
	return h.Sum(nil)
}

// Valid reports whether the entry's hash is the hash of its own fields and its prev_hash,
// and the first entry links to the zero hash. That the entry links to its predecessor is
// checked where both are at hand.
func (e AuditEntry) Valid() bool {
	if e.Seq == 1 && !bytes.Equal(e.PrevHash, make([]byte, sha256.Size)) {
		return false
	}
	return bytes.Equal(e.Hash, AuditHash(e.PrevHash, e.Seq, e.At.UnixMilli(), e.Event, e.CaseID, e.Actor))
}
