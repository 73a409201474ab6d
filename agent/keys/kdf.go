package keys

import (
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// MaxConcurrentKDF bounds how many argon2id derivations run at once. Each costs its memory
// parameter (64 MiB by default): without a bound, a burst of logins is a burst of 64 MiB
// allocations; with it the agent's peak stays at MaxConcurrentKDF times that, and further
// logins wait their turn.
const MaxConcurrentKDF = 2

var kdfSlots = make(chan struct{}, MaxConcurrentKDF)

// idKey is argon2id; the tests count its calls.
var idKey = argon2.IDKey

// deriveKey is argon2id under the concurrency bound.
func deriveKey(passphrase, salt []byte, time, memKiB uint32, threads uint8) []byte {
	kdfSlots <- struct{}{}
	defer func() { <-kdfSlots }()
	return idKey(passphrase, salt, time, memKiB, threads, chacha20poly1305.KeySize)
}
