package keys

import (
	"crypto/rand"
	"encoding/json"
)

// Dummy returns a wrapping that no passphrase opens, with the cost parameters of like (a real
// caseworker's wrapping; the defaults when like is nil or unreadable). Unwrapping it runs
// argon2id as a real wrapping does and ends in ErrWrongPassphrase, so a login with an unknown
// name costs what one with a wrong passphrase costs and does not tell which names exist.
// Making it runs no KDF.
func Dummy(like []byte) []byte {
	var w wrapped
	if json.Unmarshal(like, &w) != nil || w.MemKiB > 4<<20 {
		w = wrapped{}
	}
	d := wrapped{Version: 2, KDF: "argon2id", Params: w.Params.withDefaults(),
		Salt: make([]byte, 16), Box: make([]byte, 24+16+74)} // nonce, tag, an age identity
	_, _ = rand.Read(d.Salt) // crypto/rand.Read never fails
	_, _ = rand.Read(d.Box)
	raw, _ := json.Marshal(d) // plain fields only: cannot fail
	return raw
}
