package receipt

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// QueueHeader carries the kit's outbox as counts (QueueReport as JSON) on its audit requests,
// so the town hall's fleet view shows how much waits on each kit. Counts only: no case ids,
// nothing personal.
const QueueHeader = "Koffer-Queue"

// QueueReport is what waits in a kit's outbox when it talks to the town hall. The age is
// relative, so the kit's clock does not matter.
type QueueReport struct {
	Depth int `json:"depth"` // packets not yet delivered, parked included
	// OldestAgeSeconds is the age of the oldest undelivered packet (0: the outbox is empty).
	OldestAgeSeconds int64 `json:"oldest_age_s"`
	Parked           int   `json:"parked"` // of Depth, parked for a person to decide
}

// Bounds of a plausible report: a kit holds days of work, not millions of cases or decades.
const (
	maxQueueHeader = 256
	maxQueueDepth  = 1_000_000
	maxQueueAge    = 10 * 365 * 24 * 3600
)

// String is the header value.
func (q QueueReport) String() string {
	b, _ := json.Marshal(q) // three integers: cannot fail
	return string(b)
}

// ParseQueueReport reads a QueueHeader value: one JSON object with exactly the three counts,
// each within bounds and consistent (parked within depth, an age only with a depth).
func ParseQueueReport(s string) (QueueReport, error) {
	var q QueueReport
	if len(s) > maxQueueHeader {
		return q, errors.New("queue report too long")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return QueueReport{}, fmt.Errorf("queue report: %w", err)
	}
	if dec.More() {
		return QueueReport{}, errors.New("queue report: trailing data")
	}
	switch {
	case q.Depth < 0 || q.Depth > maxQueueDepth:
		return QueueReport{}, fmt.Errorf("queue report: depth %d out of range", q.Depth)
	case q.Parked < 0 || q.Parked > q.Depth:
		return QueueReport{}, fmt.Errorf("queue report: parked %d not within depth %d", q.Parked, q.Depth)
	case q.OldestAgeSeconds < 0 || q.OldestAgeSeconds > maxQueueAge:
		return QueueReport{}, fmt.Errorf("queue report: age %d out of range", q.OldestAgeSeconds)
	case q.Depth == 0 && q.OldestAgeSeconds != 0:
		return QueueReport{}, errors.New("queue report: an age without a waiting packet")
	}
	return q, nil
}
