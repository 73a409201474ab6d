package cases

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"
)

// Check is the whole validation of a complete case, the same for the CLI and the UI: the rules
// of Validate plus every attachment's content (data[i] belongs to f.Attachments[i]; nil means
// missing, already reported in missing). It returns a *ValidationError listing every problem.
func Check(f *File, now time.Time, data [][]byte, missing []Problem) (Assessment, error) {
	a, err := f.Validate(now)
	var ps []Problem
	var ve *ValidationError
	if errors.As(err, &ve) {
		ps = append(ps, ve.Problems...)
	} else if err != nil {
		return a, err
	}
	ps = append(ps, missing...)
	reported := map[string]bool{}
	for _, p := range missing {
		reported[p.Field] = true
	}
	for i, at := range f.Attachments {
		field := fmt.Sprintf("attachments[%d].file", i)
		if reported[field] {
			continue
		}
		if i >= len(data) || data[i] == nil {
			if at.File != "" && fs.ValidPath(path.Clean(at.File)) {
				ps = append(ps, Problem{Field: field, Code: "missing", Message: "file not found", Hint: "Die Anlage fehlt."})
			}
			continue
		}
		if err := CheckAttachment(field, at.Kind, data[i]); errors.As(err, &ve) {
			ps = append(ps, ve.Problems...)
		}
	}
	if len(data) > len(f.Attachments) {
		ps = append(ps, Problem{Field: "attachments", Code: "extra-data", Message: "more files than attachments", Hint: "Mehr Dateien als Anlagen."})
	}
	if len(ps) > 0 {
		return a, &ValidationError{ps}
	}
	if a.Fee.Currency == "" {
		a.Fee = ServiceFee(f.Service, now, a.Age, f.Details.Provisional)
	}
	return a, nil
}
