package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"koffer/agent/cases"
	"koffer/agent/localapi"
	"koffer/store"
	"koffer/sync/packet"
)

// form is the form-data part of a packet (form.json): what the town hall's back office reads.
type form struct {
	CaseID      string         `json:"case_id"`
	Service     cases.Service  `json:"service"`
	AppliedAt   time.Time      `json:"applied_at"`
	KitID       string         `json:"kit_id"`
	Person      cases.Person   `json:"person"`
	Details     cases.Details  `json:"details"`
	Age         int            `json:"age"`
	Late        bool           `json:"late,omitempty"`
	FeeCents    int64          `json:"fee_cents"`
	FeeCurrency string         `json:"fee_currency"`
	Attachments []formAttached `json:"attachments"`
}

type formAttached struct {
	Part     string `json:"part"`
	Kind     string `json:"kind"`
	Finger   string `json:"finger,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	Quality  *int   `json:"quality,omitempty"`
}

// Submit validates a complete case (cases.Check, the same rules the UI uses) and seals it: the
// packet file is written and fsynced, then the case and its outbox row are committed in one
// transaction. The citizen's data never touches the disk unencrypted. A case id that exists
// already with the same content returns that case with Duplicate set and stores nothing; with
// other content it is refused (existingSubmit).
func (a *Agent) Submit(ctx context.Context, req localapi.SubmitRequest) (localapi.SubmitResponse, error) {
	id := req.ID
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return localapi.SubmitResponse{}, err
		}
		id = u.String()
	} else if u, err := uuid.Parse(id); err != nil || u.Version() != 7 || u.String() != id {
		return localapi.SubmitResponse{}, &localapi.Error{Code: "bad-id", Message: "case id must be a lowercase UUIDv7"}
	}
	if err := a.refuseIfDamaged(); err != nil {
		return localapi.SubmitResponse{}, err
	}
	digest := a.submitDigest(req)
	if res, err := a.existingSubmit(ctx, id, digest); !errors.Is(err, store.ErrNotFound) {
		return res, err
	}

	f, err := cases.Parse(req.Case)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	now := a.now().UTC()
	assess, err := cases.Check(f, now, req.Files, nil)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	parts, err := buildParts(id, a.kit.Bundle.KitID, f, assess, now, req.Files)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	item, err := a.store.SealCase(ctx, store.NewCase{
		ID: id, Service: string(f.Service), Late: assess.Late, CreatedAt: now, Actor: "cli", Digest: digest,
	}, func(w io.Writer) error {
		_, err := a.sealer.Seal(w, packet.Manifest{CaseID: id, Service: string(f.Service), CreatedAt: now}, parts)
		return err
	})
	if errors.Is(err, store.ErrExists) {
		return a.existingSubmit(ctx, id, digest)
	}
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	a.log.Info("caseSealed", "caseId", id, "service", string(f.Service), "size", item.Size, "late", assess.Late)
	if a.opts.OnSealed != nil {
		a.opts.OnSealed(id)
	}
	return localapi.SubmitResponse{ID: id, State: store.StateSealed, Late: assess.Late, Fee: assess.Fee.String()}, nil
}

var extOf = map[string]string{"pdf": ".pdf", "jpeg": ".jpg", "png": ".png", "jp2": ".jp2", "fir": ".fir", "wsq": ".wsq"}

// buildParts turns a checked case into packet parts: form.json plus one part per attachment.
func buildParts(id, kitID string, f *cases.File, a cases.Assessment, now time.Time, files [][]byte) ([]packet.Part, error) {
	fm := form{
		CaseID: id, Service: f.Service, AppliedAt: now, KitID: kitID, Person: f.Person, Details: f.Details,
		Age: a.Age, Late: a.Late, FeeCents: a.Fee.Cents, FeeCurrency: a.Fee.Currency,
		Attachments: []formAttached{},
	}
	parts := []packet.Part{{}}
	for i, at := range f.Attachments {
		name := fmt.Sprintf("%s-%d%s", at.Kind, i+1, extOf[cases.Sniff(files[i])])
		fm.Attachments = append(fm.Attachments, formAttached{Part: name, Kind: at.Kind, Finger: at.Finger, Attempts: at.Attempts, Quality: at.Quality})
		parts = append(parts, packet.Part{Name: name, Kind: at.Kind, Finger: at.Finger, Data: files[i]})
	}
	data, err := json.Marshal(fm)
	if err != nil {
		return nil, err
	}
	parts[0] = packet.Part{Name: "form.json", Kind: "form", Data: data}
	return parts, nil
}

// Status reports the kit and its queue.
func (a *Agent) Status(ctx context.Context) (localapi.Status, error) {
	qs, err := a.store.QueueStats(ctx)
	if err != nil {
		return localapi.Status{}, err
	}
	mode := "live"
	if a.opts.Training {
		mode = "training"
	}
	a.mu.Lock()
	unlocked := a.dataKey != nil
	a.mu.Unlock()
	st := localapi.Status{
		KitID: a.kit.Bundle.KitID, Mode: mode, Version: a.opts.Version, Started: a.started,
		TownHall: a.kit.Bundle.URL, Unlocked: unlocked, Uptime: a.now().Sub(a.started), DataDir: a.opts.DataDir,
		Queue: localapi.QueueStats{
			Depth: qs.Depth, Parked: qs.Parked, Bytes: qs.Bytes, OldestAgeSec: int64(qs.OldestAge / time.Second),
			OldestCaseID: qs.OldestCaseID, Delivered: qs.Delivered, Drafts: qs.Drafts,
		},
		AuditOK: true,
		Uplink:  a.uplinkStatus(),
	}
	if a.damaged != nil {
		st.DatabaseDamaged = a.damaged.Error()
	}
	if err := a.store.VerifyAudit(ctx); err != nil {
		st.AuditOK, st.AuditInfo = false, err.Error()
	}
	return st, nil
}

func toAPI(c store.Case) localapi.Case {
	return localapi.Case{
		ID: c.ID, Service: c.Service, State: c.State, Late: c.Late, CreatedAt: c.CreatedAt,
		SealedAt: c.SealedAt, DeliveredAt: c.DeliveredAt, PacketSize: c.PacketSize, Attempts: c.Attempts,
		LastError: c.LastError, Parked: c.Parked, NextAttemptAt: c.NextAttemptAt, Receipt: c.ReceiptNumber,
	}
}

// Cases lists every case, oldest first.
func (a *Agent) Cases(ctx context.Context) ([]localapi.Case, error) {
	cs, err := a.store.Cases(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]localapi.Case, len(cs))
	for i, c := range cs {
		out[i] = toAPI(c)
	}
	return out, nil
}

// Case returns one case.
func (a *Agent) Case(ctx context.Context, id string) (localapi.Case, error) {
	c, err := a.store.Case(ctx, id)
	if err != nil {
		return localapi.Case{}, err
	}
	return toAPI(*c), nil
}
