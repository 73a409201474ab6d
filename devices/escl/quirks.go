package escl

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Quirks are the behaviours a client needs to tolerate from one model. The zero value is
// a well-behaved device; defaults() fills the generic budget every device gets.
type Quirks struct {
	// NextDocumentDelay is waited before each NextDocument request.
	NextDocumentDelay time.Duration
	// NotFoundRetries is how often 404/410 on the first NextDocument means "not ready yet".
	NotFoundRetries int
	// BusyRetries bounds the retries of 503 per request.
	BusyRetries int
}

type quirkEntry struct {
	Match                   string `json:"match"`
	NextDocumentDelayMs     int    `json:"nextDocumentDelayMs"`
	RetryNotFoundAfterStart int    `json:"retryNotFoundAfterStart"`
	BusyRetries             int    `json:"busyRetries"`
}

//go:embed quirks.json
var quirksJSON []byte

var quirkTable = mustQuirks(quirksJSON)

func mustQuirks(b []byte) []quirkEntry {
	var t struct {
		Models []quirkEntry `json:"models"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		panic(fmt.Sprintf("escl: quirks.json: %v", err))
	}
	return t.Models
}

// Generic budget for every device, model entries only raise it.
const (
	defaultBusyRetries     = 8
	defaultNotFoundRetries = 3
)

// QuirksFor returns the quirks of the model named by makeAndModel (the first matching entry),
// with the generic retry budget as the floor.
func QuirksFor(makeAndModel string) Quirks {
	q := Quirks{BusyRetries: defaultBusyRetries, NotFoundRetries: defaultNotFoundRetries}
	mm := strings.ToLower(makeAndModel)
	for _, e := range quirkTable {
		if !strings.HasPrefix(mm, strings.ToLower(e.Match)) {
			continue
		}
		q.NextDocumentDelay = time.Duration(e.NextDocumentDelayMs) * time.Millisecond
		q.NotFoundRetries = max(q.NotFoundRetries, e.RetryNotFoundAfterStart)
		q.BusyRetries = max(q.BusyRetries, e.BusyRetries)
		break
	}
	return q
}
