package documents

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"

	"github.com/google/uuid"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U, so a number read out over the
// phone or copied by hand is not misread.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// CaseNumber is the short case number shown on screen and printed on paper for case id (a
// UUIDv7 made on the kit), as "XXXX-XXXX": 40 bits in 8 Crockford base32 characters.
//
// The 40 bits are the low 28 bits of the id's millisecond timestamp and its 12-bit rand_a.
// The UUIDv7 generator the kit uses (google/uuid) fills rand_a with a sub-millisecond
// sequence, so (milliseconds, rand_a) grows strictly within one process: two cases made by one
// agent less than 2^28 ms (about 3.1 days) apart never share a number. Cases further apart
// collide only if they fall on the same sub-millisecond tick modulo 3.1 days (about 2^-40 per
// pair: under 10^-4 for 10 000 cases). A kit purges delivered cases after a day, so what one
// kit shows at a time is far below that. The first 8 hex digits would be worse (the top of the
// timestamp: all cases of the same minute alike), the last 8 random ones collide at 1 % for
// 10 000 cases. Ids that are no UUIDv7 get 40 bits of their SHA-256 instead.
func CaseNumber(id string) string {
	var b [8]byte
	if u, err := uuid.Parse(id); err == nil && u.Version() == 7 {
		// Bytes 0-5 are unix_ts_ms, the low nibble of byte 6 and byte 7 are rand_a.
		ms := uint64(u[2]&0x0f)<<24 | uint64(u[3])<<16 | uint64(u[4])<<8 | uint64(u[5])
		v := ms<<12 | uint64(u[6]&0x0f)<<8 | uint64(u[7])
		binary.BigEndian.PutUint64(b[:], v<<24) // the 40 bits in b[0:5]
	} else {
		sum := sha256.Sum256([]byte(id))
		copy(b[:5], sum[:5])
	}
	s := crockford.EncodeToString(b[:5])
	return s[:4] + "-" + s[4:]
}

// ParseCaseNumber normalises what a caseworker typed ("a795 d6e7", "A795-D6E7") to the printed
// form, reading Crockford's look-alikes (O as 0, I and L as 1). ok is false for anything else.
func ParseCaseNumber(s string) (string, bool) {
	r := strings.NewReplacer("-", "", " ", "", "O", "0", "I", "1", "L", "1")
	s = r.Replace(strings.ToUpper(s))
	if len(s) != 8 {
		return "", false
	}
	if _, err := crockford.DecodeString(s); err != nil {
		return "", false
	}
	return s[:4] + "-" + s[4:], true
}
