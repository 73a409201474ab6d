package casework

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"koffer/agent/cases"
	"koffer/agent/localapi"
	"koffer/store"
)

// StartDraft opens a new case captured step by step (the UI's path), starting from the case
// file start (nil: empty). It needs a logged-in caseworker: the draft is stored encrypted with
// the data key.
func (k *Core) StartDraft(ctx context.Context, service cases.Service, actor string, start *cases.File) (string, error) {
	st := &draftState{}
	if start != nil {
		st.File = *start
	}
	return k.startDraft(ctx, service, actor, st)
}

func (k *Core) startDraft(ctx context.Context, service cases.Service, actor string, st *draftState) (string, error) {
	if !service.Valid() {
		return "", &cases.ValidationError{Problems: []cases.Problem{{Field: "service", Code: "unknown-service",
			Message: "unknown service", Hint: "Unbekannte Dienstleistung."}}}
	}
	if _, err := k.opts.Keys.DataKey(); err != nil {
		return "", err
	}
	if err := k.refuseIfDamaged(); err != nil {
		return "", err
	}
	id := uuid.Must(uuid.NewV7()).String()
	if err := k.opts.Store.CreateDraft(ctx, store.NewCase{ID: id, Service: string(service), Actor: actor}); err != nil {
		return "", err
	}
	st.File.Service = service
	st.File.Attachments = nil
	st.StartedBy = actor
	if err := k.saveDraft(ctx, id, st); err != nil {
		return "", err
	}
	return id, nil
}

// SaveDraft stores the case file of a draft durably and encrypted (attachments are added with
// AddDraftAttachment). When it returns nil the UI may say "gespeichert".
func (k *Core) SaveDraft(ctx context.Context, caseID string, f *cases.File) error {
	return k.updateDraft(ctx, caseID, func(st *draftState) error {
		service := st.File.Service
		st.File = *f
		st.File.Service, st.File.Attachments = service, nil
		return nil
	})
}

// draft reads the state of draft c.
func (k *Core) draft(ctx context.Context, c *store.Case) (*draftState, error) {
	key, err := k.opts.Keys.DataKey()
	if err != nil {
		return nil, err
	}
	steps, err := k.opts.Store.Steps(ctx, key, c.ID)
	if err != nil {
		return nil, err
	}
	st := &draftState{}
	if raw, ok := steps[draftStep]; ok {
		if err := json.Unmarshal(raw, st); err != nil {
			return nil, fmt.Errorf("draft of %s: %w", c.ID, err)
		}
	}
	st.File.Service = cases.Service(c.Service)
	st.init()
	return st, nil
}

func (st *draftState) init() {
	if st.UI == nil {
		st.UI = map[string]string{}
	}
	if st.Scans == nil {
		st.Scans = map[string]int{}
	}
	if st.Printed == nil {
		st.Printed = map[string]bool{}
	}
	if st.Attached == nil {
		st.Attached = map[string]bool{}
	}
	if st.Version == 0 {
		st.Version = 1
	}
}

func (k *Core) saveDraft(ctx context.Context, id string, st *draftState) error {
	key, err := k.opts.Keys.DataKey()
	if err != nil {
		return err
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return k.opts.Store.SaveStep(ctx, key, id, draftStep, data)
}

// updateDraft loads a draft, applies fn and stores it.
func (k *Core) updateDraft(ctx context.Context, id string, fn func(st *draftState) error) error {
	if _, err := k.opts.Keys.DataKey(); err != nil {
		return err
	}
	c, err := k.opts.Store.Case(ctx, id)
	if err != nil {
		return err
	}
	if err := cases.Move(cases.State(c.State), cases.Sealed); err != nil {
		return err
	}
	st, err := k.draft(ctx, c)
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return k.saveDraft(ctx, id, st)
}

// AddDraftAttachment checks and stores a captured file (scan, fingerprint, signature, photo)
// encrypted with the data key.
func (k *Core) AddDraftAttachment(ctx context.Context, caseID, kind, finger string, data []byte) (store.Attachment, error) {
	if err := cases.CheckAttachment("attachment", kind, data); err != nil {
		return store.Attachment{}, err
	}
	key, err := k.opts.Keys.DataKey()
	if err != nil {
		return store.Attachment{}, err
	}
	return k.opts.Store.AddAttachment(ctx, key, store.Attachment{CaseID: caseID, Kind: kind, Finger: finger}, data)
}

// SealDraft assembles a draft into a case file (its attachments are the store's rows) and
// seals it on the same path as Submit; the draft's steps are deleted in the same transaction.
func (k *Core) SealDraft(ctx context.Context, caseID, actor string) (localapi.SubmitResponse, error) {
	key, err := k.opts.Keys.DataKey()
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	c, err := k.opts.Store.Case(ctx, caseID)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	if err := cases.Move(cases.State(c.State), cases.Sealed); err != nil {
		return localapi.SubmitResponse{}, err
	}
	st, err := k.draft(ctx, c)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	f := &st.File
	atts, err := k.opts.Store.Attachments(ctx, caseID)
	if err != nil {
		return localapi.SubmitResponse{}, err
	}
	files := make([][]byte, len(atts))
	defer func() {
		for i := range files {
			clear(files[i])
		}
	}()
	for i, at := range atts {
		f.Attachments = append(f.Attachments, cases.Attachment{Kind: at.Kind, File: fmt.Sprintf("attachment-%d", at.ID), Finger: at.Finger})
		if files[i], err = k.opts.Store.AttachmentData(ctx, key, at); err != nil {
			return localapi.SubmitResponse{}, err
		}
	}
	return k.seal(ctx, sealing{id: caseID, file: f, files: files, actor: actor, created: c.CreatedAt, draft: true})
}
