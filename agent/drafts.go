package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/uuid"

	"koffer/agent/cases"
	"koffer/agent/localapi"
	"koffer/store"
	"koffer/sync/packet"
)

// Draft step names: each holds the JSON of that part of the case file.
const (
	StepPerson  = "person"  // cases.Person
	StepDetails = "details" // cases.Details
)

// StartDraft opens a new case captured step by step (the UI's path). It needs a logged-in
// caseworker: every step is stored encrypted with the data key.
func (a *Agent) StartDraft(ctx context.Context, service cases.Service, actor string) (string, error) {
	if !service.Valid() {
		return "", &cases.ValidationError{Problems: []cases.Problem{{Field: "service", Code: "unknown-service",
			Message: "unknown service", Hint: "Unbekannte Dienstleistung."}}}
	}
	if _, err := a.DataKey(); err != nil {
		return "", err
	}
	if err := a.refuseIfDamaged(); err != nil {
		return "", err
	}
	id := uuid.Must(uuid.NewV7()).String()
	if err := a.store.CreateDraft(ctx, store.NewCase{ID: id, Service: string(service), Actor: actor}); err != nil {
		return "", err
	}
	return id, nil
}

// SaveDraftStep stores one step (StepPerson or StepDetails, as JSON) durably and encrypted.
// When it returns nil the UI may say "gespeichert".
func (a *Agent) SaveDraftStep(ctx context.Context, caseID, step string, data []byte) error {
	if step != StepPerson && step != StepDetails {
		return fmt.Errorf("unknown step %q", step)
	}
	key, err := a.DataKey()
	if err != nil {
		return err
	}
	return a.store.SaveStep(ctx, key, caseID, step, data)
}

// AddDraftAttachment checks and stores a captured file (scan, fingerprint, signature, photo)
// encrypted with the data key.
func (a *Agent) AddDraftAttachment(ctx context.Context, caseID, kind, finger string, data []byte) (store.Attachment, error) {
	if err := cases.CheckAttachment("attachment", kind, data); err != nil {
		return store.Attachment{}, err
	}
	key, err := a.DataKey()
	if err != nil {
		return store.Attachment{}, err
	}
	return a.store.AddAttachment(ctx, key, store.Attachment{CaseID: caseID, Kind: kind, Finger: finger}, data)
}

// SealDraft assembles a draft into a case file, checks it with the same rules as Submit and
// seals it; the draft's steps are deleted in the same transaction.
func (a *Agent) SealDraft(ctx context.Context, caseID, actor string) (localapi.SubmitResponse, error) {
	key, err := a.DataKey()
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	c, err := a.store.Case(ctx, caseID)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	if err := cases.Move(cases.State(c.State), cases.Sealed); err != nil {
		return localapi.SubmitResponse{}, err
	}
	steps, err := a.store.Steps(ctx, key, caseID)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	f := &cases.File{Service: cases.Service(c.Service)}
	for name, dst := range map[string]any{StepPerson: &f.Person, StepDetails: &f.Details} {
		if b, ok := steps[name]; ok {
			if err := json.Unmarshal(b, dst); err != nil {
				return localapi.SubmitResponse{}, fmt.Errorf("draft step %s: %w", name, err)
			}
		}
	}
	atts, err := a.store.Attachments(ctx, caseID)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	files := make([][]byte, len(atts))
	for i, at := range atts {
		f.Attachments = append(f.Attachments, cases.Attachment{Kind: at.Kind, File: fmt.Sprintf("attachment-%d", at.ID), Finger: at.Finger})
		if files[i], err = a.store.AttachmentData(ctx, key, at); err != nil {
			return localapi.SubmitResponse{}, err
		}
	}
	now := a.now().UTC()
	assess, err := cases.Check(f, now, files, nil)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	parts, err := buildParts(caseID, a.kit.Bundle.KitID, f, assess, now, files)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	item, err := a.store.SealCase(ctx, store.NewCase{ID: caseID, Service: c.Service, Late: assess.Late, Actor: actor},
		func(w io.Writer) error {
			_, err := a.sealer.Seal(w, packet.Manifest{CaseID: caseID, Service: c.Service, CreatedAt: c.CreatedAt}, parts)
			return err
		})
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	for i := range files {
		clear(files[i])
	}
	a.log.Info("draftSealed", "caseId", caseID, "service", c.Service, "size", item.Size, "late", assess.Late)
	if a.opts.OnSealed != nil {
		a.opts.OnSealed(caseID)
	}
	return localapi.SubmitResponse{ID: caseID, State: store.StateSealed, Late: assess.Late, Fee: assess.Fee.String()}, nil
}
