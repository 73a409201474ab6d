package casework

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
// Details carry everything captured besides the files: payment, photo source, signature
// waiver, confirmations and the whole fingerprint capture record (attempts and decisions).
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
	Part       string `json:"part"`
	Kind       string `json:"kind"`
	Finger     string `json:"finger,omitempty"`
	Attempts   int    `json:"attempts,omitempty"`
	Quality    *int   `json:"quality,omitempty"`
	Method     string `json:"method,omitempty"`
	ByOperator bool   `json:"by_operator,omitempty"`
}

// Submit validates a complete case (cases.Check, the same rules the UI uses) and seals it: the
// packet file is written and fsynced, then the case and its outbox row are committed in one
// transaction. The citizen's data never touches the disk unencrypted. A case id that exists
// already returns that case with Duplicate set and stores nothing.
func (k *Core) Submit(ctx context.Context, req localapi.SubmitRequest) (localapi.SubmitResponse, error) {
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
	if err := k.refuseIfDamaged(); err != nil {
		return localapi.SubmitResponse{}, err
	}
	digest := k.submitDigest(req)
	if res, err := k.existingSubmit(ctx, id, digest); !errors.Is(err, store.ErrNotFound) {
		return res, err
	}

	f, err := cases.Parse(req.Case)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	res, err := k.seal(ctx, sealing{id: id, file: f, files: req.Files, actor: "cli", digest: digest})
	if errors.Is(err, store.ErrExists) {
		return k.existingSubmit(ctx, id, digest)
	}
	return res, err
}

// sealing is one case on its way into a packet: from the CLI complete, from the UI a draft.
type sealing struct {
	id      string
	file    *cases.File
	files   [][]byte // files[i] belongs to file.Attachments[i]
	actor   string
	created time.Time // a draft's creation; zero: now
	draft   bool
	digest  string // the CLI request's keyed digest (submitDigest): tells a retry from a conflict
}

// seal is the one path from a case file to the outbox, for the CLI and the UI alike: the kit
// completes what it knows itself (cases.File.Complete), cases.Check applies every rule, the
// parts are built, the packet is written and fsynced, then the case and its outbox row commit
// in one transaction, and the uplink is woken.
func (k *Core) seal(ctx context.Context, s sealing) (localapi.SubmitResponse, error) {
	now := k.now().UTC()
	f := s.file
	f.Complete()
	assess, err := cases.Check(f, now, s.files, nil)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	parts, err := buildParts(s.id, k.opts.KitID, f, assess, now, s.files)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	nc := store.NewCase{ID: s.id, Service: string(f.Service), Late: assess.Late, Actor: s.actor, Digest: s.digest}
	created := s.created
	if !s.draft {
		nc.CreatedAt, created = now, now
	}
	item, err := k.opts.Store.SealCase(ctx, nc, func(w io.Writer) error {
		_, err := k.opts.Sealer.Seal(w, packet.Manifest{CaseID: s.id, Service: string(f.Service), CreatedAt: created}, parts)
		return err
	})
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	event := "caseSealed"
	if s.draft {
		event = "draftSealed"
	}
	k.log.Info(event, "caseId", s.id, "service", string(f.Service), "size", item.Size, "late", assess.Late)
	if k.opts.OnSealed != nil {
		k.opts.OnSealed(s.id)
	}
	return localapi.SubmitResponse{ID: s.id, State: store.StateSealed, Late: assess.Late, Fee: assess.Fee.String()}, nil
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
		fm.Attachments = append(fm.Attachments, formAttached{Part: name, Kind: at.Kind, Finger: at.Finger,
			Attempts: at.Attempts, Quality: at.Quality, Method: at.Method, ByOperator: at.ByOperator})
		parts = append(parts, packet.Part{Name: name, Kind: at.Kind, Finger: at.Finger, Data: files[i]})
	}
	data, err := json.Marshal(fm)
	if err != nil {
		return nil, err
	}
	parts[0] = packet.Part{Name: "form.json", Kind: "form", Data: data}
	return parts, nil
}
