package casework

import (
	"bytes"
	"context"
	"errors"
	"time"

	"koffer/agent/cases"
	"koffer/agent/photo"
	"koffer/store"
)

// Parts of a draft that are not scans.
const (
	PartPhoto     = "foto"         // the photo taken on site
	partSignature = "unterschrift" // the signature pad's image
)

// PartSignature is the part of the signature image, for its preview.
const PartSignature = partSignature

// addFile records attachment id as a file of part.
func (st *draftState) addFile(part string, id int64) {
	if st.Files == nil {
		st.Files = map[string][]int64{}
	}
	st.Files[part] = append(st.Files[part], id)
}

// TakePhoto checks a camera frame (JPEG or PNG from the browser) against the photo template
// for the citizen's age (agent/photo), crops it to 413×531 and stores it encrypted as the
// draft's photo. A photo taken again replaces the previous one. A frame that does not make an
// ID photo is a *ValidationError with the German hint of what to change.
func (k *Core) TakePhoto(ctx context.Context, ch Change, frame []byte) (*Case, error) {
	return k.change(ctx, ch, func(c *store.Case, st *draftState) error {
		if st.File.Service != cases.Personalausweis {
			return &ValidationError{Fields: map[string]string{"": "Ein Lichtbild wird nur für den Personalausweis gebraucht."}}
		}
		rules := photo.Adult
		if birth, err := time.Parse(time.DateOnly, st.File.Person.BirthDate); err == nil {
			rules = photo.ForAge(cases.Age(birth, k.now()))
		}
		p, err := photo.Take(bytes.NewReader(frame), rules)
		if pe := (*photo.Error)(nil); errors.As(err, &pe) {
			k.log.Info("photoRejected", "caseId", c.ID, "code", pe.Code)
			return &ValidationError{Fields: map[string]string{"": pe.Hint}}
		}
		if err != nil {
			return err
		}
		// The old photo goes first: a case never holds two. Should storing the new one then
		// fail, the draft says so at once instead of naming a file that is gone.
		if old := st.Files[PartPhoto]; len(old) > 0 {
			for _, id := range old {
				if err := k.opts.Store.RemoveAttachment(ctx, c.ID, id, ch.Caseworker); err != nil && !errors.Is(err, store.ErrNotFound) {
					return lockedErr(err)
				}
			}
			delete(st.Files, PartPhoto)
			st.Scans[PartPhoto] = 0
			if err := k.saveDraft(ctx, c.ID, st); err != nil {
				return lockedErr(err)
			}
		}
		at, err := k.AddDraftAttachment(ctx, c.ID, cases.KindPhoto, "", p.JPEG)
		if err != nil {
			return attachErr(err)
		}
		st.addFile(PartPhoto, at.ID)
		st.Scans[PartPhoto] = 1
		st.File.Details.PhotoSource = cases.PhotoAuthority
		st.File.Details.PhotoCode = "" // one photo per case: the camera's replaces a code
		k.log.Info("photoTaken", "caseId", c.ID, "upscaled", p.Upscaled)
		return nil
	})
}

// dropPhotoForCode deletes a photo taken on site once the caseworker has chosen the
// photographer's code instead: a case carries one photo, and the choice saved last wins.
func (k *Core) dropPhotoForCode(ctx context.Context, caseID string, st *draftState, actor string) error {
	if st.File.Details.PhotoSource != cases.PhotoPhotographer || len(st.Files[PartPhoto]) == 0 {
		return nil
	}
	for _, id := range st.Files[PartPhoto] {
		if err := k.opts.Store.RemoveAttachment(ctx, caseID, id, actor); err != nil && !errors.Is(err, store.ErrNotFound) {
			return lockedErr(err)
		}
	}
	delete(st.Files, PartPhoto)
	st.Scans[PartPhoto] = 0
	return nil
}

// DraftFile is the newest stored file of a draft's part (the photo, the signature, a scan),
// decrypted, for the caseworker's preview. ErrNotFound when the part has none.
func (k *Core) DraftFile(ctx context.Context, caseID, part string) ([]byte, error) {
	c, st, err := k.load(ctx, caseID)
	if err != nil {
		return nil, err
	}
	if st == nil || len(st.Files[part]) == 0 {
		return nil, ErrNotFound
	}
	want := st.Files[part][len(st.Files[part])-1]
	atts, err := k.opts.Store.Attachments(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	key, err := k.opts.Keys.DataKey()
	if err != nil {
		return nil, lockedErr(err)
	}
	for _, at := range atts {
		if at.ID == want {
			return k.opts.Store.AttachmentData(ctx, key, at)
		}
	}
	return nil, ErrNotFound
}
