package uplink_test

import (
	"context"
	"errors"
	"os"
	"sort"
	"sync"
	"time"

	"koffer/sync/uplink"
)

// memOutbox is a test implementation of uplink.Outbox with the store's semantics: oldest due
// first, parked and delivered items never again, Deliver removes the packet and the case's
// biometric file. It also records what happened for assertions.
type memOutbox struct {
	mu        sync.Mutex
	items     map[string]*memItem
	failures  map[string][]string
	urlSets   int
	delivered []string                  // case ids in the order their receipts were stored
	deliverFn func(caseID string) error // optional fault injection
}

type memItem struct {
	uplink.OutboxItem
	bioPath   string
	parked    string
	delivered *uplink.Receipt
}

var _ uplink.Outbox = (*memOutbox)(nil)

func newMemOutbox() *memOutbox {
	return &memOutbox{items: map[string]*memItem{}, failures: map[string][]string{}}
}

func (o *memOutbox) add(it uplink.OutboxItem, bioPath string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items[it.CaseID] = &memItem{OutboxItem: it, bioPath: bioPath}
}

func (o *memOutbox) NextOutbox(ctx context.Context, now time.Time) (*uplink.OutboxItem, error) {
	return o.NextOutboxExcept(ctx, now, "")
}

var _ uplink.Lookahead = (*memOutbox)(nil)

func (o *memOutbox) NextOutboxExcept(_ context.Context, now time.Time, except string) (*uplink.OutboxItem, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var pending []*memItem
	for _, it := range o.items {
		if it.parked == "" && it.delivered == nil && it.CaseID != except {
			pending = append(pending, it)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].CreatedAt.Before(pending[j].CreatedAt) })
	var next time.Time
	for _, it := range pending {
		if !it.NextAttemptAt.After(now) {
			c := it.OutboxItem
			return &c, nil
		}
		if next.IsZero() || it.NextAttemptAt.Before(next) {
			next = it.NextAttemptAt
		}
	}
	return nil, &uplink.IdleError{Next: next}
}

func (o *memOutbox) get(caseID string) (*memItem, error) {
	it, ok := o.items[caseID]
	if !ok {
		return nil, errors.New("no such case")
	}
	return it, nil
}

func (o *memOutbox) SetUploadURL(_ context.Context, caseID, url string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	it, err := o.get(caseID)
	if err != nil {
		return err
	}
	it.UploadURL = url
	o.urlSets++
	return nil
}

func (o *memOutbox) RecordAttemptFailure(_ context.Context, caseID, reason string, next time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	it, err := o.get(caseID)
	if err != nil {
		return err
	}
	it.Attempts++
	it.NextAttemptAt = next
	o.failures[caseID] = append(o.failures[caseID], reason)
	return nil
}

func (o *memOutbox) RetryNow(_ context.Context, now time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, it := range o.items {
		if it.parked == "" && it.delivered == nil && it.NextAttemptAt.After(now) {
			it.NextAttemptAt = now
		}
	}
	return nil
}

func (o *memOutbox) Park(_ context.Context, caseID, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	it, err := o.get(caseID)
	if err != nil {
		return err
	}
	it.parked = reason
	return nil
}

func (o *memOutbox) Deliver(_ context.Context, caseID string, r uplink.Receipt) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.deliverFn != nil {
		if err := o.deliverFn(caseID); err != nil {
			return err
		}
	}
	it, err := o.get(caseID)
	if err != nil {
		return err
	}
	if it.delivered != nil {
		return errors.New("delivered twice")
	}
	it.delivered = &r
	o.delivered = append(o.delivered, caseID)
	if err := os.Remove(it.PacketPath); err != nil {
		return err
	}
	return os.Remove(it.bioPath)
}

// deliveredCount counts the receipts stored.
func (o *memOutbox) deliveredCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.delivered)
}

// pending counts items neither delivered nor parked.
func (o *memOutbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, it := range o.items {
		if it.parked == "" && it.delivered == nil {
			n++
		}
	}
	return n
}

func (o *memOutbox) snapshot() map[string]memItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]memItem{}
	for k, v := range o.items {
		out[k] = *v
	}
	return out
}
