package agent

import (
	"context"
	"errors"
	"time"

	"koffer/agent/localapi"
	"koffer/store"
	"koffer/sync/receipt"
	"koffer/sync/uplink"
)

// outbox adapts the store to uplink.Outbox.
type outbox struct{ s *store.Store }

var _ uplink.Outbox = outbox{}

func (o outbox) NextOutbox(ctx context.Context, now time.Time) (*uplink.OutboxItem, error) {
	return o.NextOutboxExcept(ctx, now, "")
}

var _ uplink.Lookahead = outbox{}

// NextOutboxExcept lets the uplink stream the next case while a receipt is on its way.
func (o outbox) NextOutboxExcept(ctx context.Context, now time.Time, except string) (*uplink.OutboxItem, error) {
	it, err := o.s.NextOutbox(ctx, now, except)
	var nd *store.NotDueError
	if errors.As(err, &nd) {
		return nil, &uplink.IdleError{Next: nd.Next}
	}
	if err != nil {
		return nil, err
	}
	return &uplink.OutboxItem{
		CaseID: it.CaseID, Service: it.Service, PacketPath: it.PacketPath, Size: it.Size,
		UploadURL: it.UploadURL, Attempts: it.Attempts, NextAttemptAt: it.NextAttemptAt, CreatedAt: it.CreatedAt,
	}, nil
}

func (o outbox) SetUploadURL(ctx context.Context, caseID, url string) error {
	return o.s.SetUploadURL(ctx, caseID, url)
}

func (o outbox) RecordAttemptFailure(ctx context.Context, caseID, reason string, next time.Time) error {
	return o.s.RecordAttemptFailure(ctx, caseID, reason, next)
}

func (o outbox) RetryNow(ctx context.Context, now time.Time) error { return o.s.RetryNow(ctx, now) }

func (o outbox) Park(ctx context.Context, caseID, reason string) error {
	return o.s.Park(ctx, caseID, reason)
}

func (o outbox) Deliver(ctx context.Context, caseID string, r uplink.Receipt) error {
	return o.s.Deliver(ctx, caseID, store.Receipt{Number: r.Number, Time: r.Time, Raw: r.Raw})
}

// auditLog adapts the store's audit log to uplink.AuditLog.
type auditLog struct{ s *store.Store }

var _ uplink.AuditLog = auditLog{}

func (a auditLog) AuditEntries(ctx context.Context, after int64, limit int) ([]receipt.AuditEntry, error) {
	es, err := a.s.AuditEntries(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]receipt.AuditEntry, len(es))
	for i, e := range es {
		out[i] = receipt.AuditEntry{Seq: e.Seq, At: e.At, Event: e.Event, CaseID: e.CaseID, Actor: e.Actor, PrevHash: e.PrevHash, Hash: e.Hash}
	}
	return out, nil
}

// queue adapts the store's outbox counts to uplink.QueueSource: counts only, the oldest
// case's id stays on the kit.
type queue struct{ s *store.Store }

var _ uplink.QueueSource = queue{}

func (q queue) QueueReport(ctx context.Context) (receipt.QueueReport, error) {
	st, err := q.s.QueueStats(ctx)
	if err != nil {
		return receipt.QueueReport{}, err
	}
	return receiptQueue(st), nil
}

// receiptQueue is the report of st, rounded down to whole seconds.
func receiptQueue(st store.QueueStats) receipt.QueueReport {
	r := receipt.QueueReport{Depth: st.Depth, Parked: st.Parked}
	if st.Depth > 0 {
		r.OldestAgeSeconds = max(int64(st.OldestAge/time.Second), 0)
	}
	return r
}

// startUplink builds the sender for a kit enrolled with a town hall, runs it beside the API
// and wakes it whenever a packet is sealed. Training kits and kits without a URL have none.
func (a *Agent) startUplink() error {
	if a.kit.Training || a.kit.Bundle.URL == "" {
		return nil
	}
	revokedAt, err := a.store.RevokedAt(context.Background())
	if err != nil {
		return err
	}
	if !revokedAt.IsZero() {
		a.kitRevoked(context.Background(), revokedAt) // finish what a crash may have cut short
	}
	u, err := uplink.New(uplink.Options{
		Bundle: a.kit.Bundle, Outbox: outbox{a.store}, Audit: auditLog{a.store}, Queue: queue{a.store}, Visits: a,
		Logger: a.opts.Logger, Now: a.opts.Now, Version: a.opts.Version,
		RevokedAt: revokedAt, Revoked: a.kitRevoked, // revoked.go
	})
	if err != nil {
		return err
	}
	a.uplink = u
	a.opts.Runners = append(a.opts.Runners, u)
	onSealed := a.opts.OnSealed
	a.opts.OnSealed = func(caseID string) {
		u.Kick()
		if onSealed != nil {
			onSealed(caseID)
		}
	}
	return nil
}

// SyncNow makes every waiting case due now, backed-off ones included, and wakes the uplink
// (POST /v1/sync).
func (a *Agent) SyncNow(ctx context.Context) error {
	if a.uplink == nil {
		return &localapi.Error{Code: "no-sync", Message: "this kit has no town hall to sync with"}
	}
	return a.uplink.SyncNow(ctx)
}

func (a *Agent) uplinkStatus() *localapi.Uplink {
	if a.uplink == nil {
		return nil
	}
	s := a.uplink.State()
	return &localapi.Uplink{
		Reachable: s.Reachable, LastContact: s.LastContact, LastError: s.LastError, LastErrorAt: s.LastErrorAt,
		Sending: s.Sending, BytesSent: s.BytesSent, Delivered: s.Delivered, RevokedAt: s.RevokedAt,
	}
}
