package cases

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Case-file paths: the names a form (the UI's flow data) uses to fill a case file one value at
// a time, the same names Problem.Field carries. Values are the case file's own (dates as
// YYYY-MM-DD); Set checks only what it must to store a value, Validate checks the rules.

type pathDef struct {
	get func(f *File) string
	set func(f *File, v string) *Problem
}

func str(p func(f *File) *string) pathDef {
	return pathDef{
		get: func(f *File) string { return *p(f) },
		set: func(f *File, v string) *Problem { *p(f) = v; return nil },
	}
}

// optional is a text field of an optional part (previous address, ID document): setting a
// value creates the part, and a part left empty is none.
func optional[T comparable](part func(f *File) **T, field func(t *T) *string) pathDef {
	return pathDef{
		get: func(f *File) string {
			if *part(f) == nil {
				return ""
			}
			return *field(*part(f))
		},
		set: func(f *File, v string) *Problem {
			p := part(f)
			if *p == nil {
				*p = new(T)
			}
			*field(*p) = v
			var zero T
			if **p == zero {
				*p = nil
			}
			return nil
		},
	}
}

func prevAddress(field func(a *Address) *string) pathDef {
	return optional(func(f *File) **Address { return &f.Details.PreviousAddress }, field)
}

func idDocument(field func(d *IDDocument) *string) pathDef {
	return optional(func(f *File) **IDDocument { return &f.Details.IDDocument }, field)
}

// confirmation is a flag in details.confirmations: any value sets it, "" clears it.
func confirmation(name string) pathDef {
	return pathDef{
		get: func(f *File) string {
			if slices.Contains(f.Details.Confirmations, name) {
				return "yes"
			}
			return ""
		},
		set: func(f *File, v string) *Problem {
			f.Details.Confirmations = slices.DeleteFunc(f.Details.Confirmations, func(c string) bool { return c == name })
			if v != "" {
				f.Details.Confirmations = append(f.Details.Confirmations, name)
				slices.Sort(f.Details.Confirmations)
			}
			return nil
		},
	}
}

var paths = map[string]pathDef{
	"person.family_name": str(func(f *File) *string { return &f.Person.FamilyName }),
	"person.given_names": str(func(f *File) *string { return &f.Person.GivenNames }),
	"person.birth_date":  str(func(f *File) *string { return &f.Person.BirthDate }),
	"person.birth_place": str(func(f *File) *string { return &f.Person.BirthPlace }),
	"person.nationality": {
		get: func(f *File) string { return f.Person.Nationality },
		set: func(f *File, v string) *Problem {
			f.Person.Nationality = strings.ToUpper(strings.TrimSpace(v))
			return nil
		},
	},
	"person.address.street":       str(func(f *File) *string { return &f.Person.Address.Street }),
	"person.address.house_number": str(func(f *File) *string { return &f.Person.Address.HouseNumber }),
	"person.address.postal_code":  str(func(f *File) *string { return &f.Person.Address.PostalCode }),
	"person.address.city":         str(func(f *File) *string { return &f.Person.Address.City }),

	"details.height_cm": {
		get: func(f *File) string {
			if f.Details.HeightCM == 0 {
				return ""
			}
			return strconv.Itoa(f.Details.HeightCM)
		},
		set: func(f *File, v string) *Problem {
			if v == "" {
				f.Details.HeightCM = 0
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return &Problem{Field: "details.height_cm", Code: "height", Message: "not a number", Hint: "Größe in Zentimetern angeben."}
			}
			f.Details.HeightCM = n
			return nil
		},
	},
	"details.eye_color":    str(func(f *File) *string { return &f.Details.EyeColor }),
	"details.photo_source": str(func(f *File) *string { return &f.Details.PhotoSource }),
	"details.photo_code":   str(func(f *File) *string { return &f.Details.PhotoCode }),
	"details.payment":      str(func(f *File) *string { return &f.Details.Payment }),
	"details.insurer":      str(func(f *File) *string { return &f.Details.Insurer }),
	"details.reference":    str(func(f *File) *string { return &f.Details.Reference }),
	"details.extended": {
		get: func(f *File) string {
			if f.Details.Extended {
				return "extended"
			}
			return "simple"
		},
		set: func(f *File, v string) *Problem {
			switch v {
			case "extended", "simple", "":
				f.Details.Extended = v == "extended"
				return nil
			}
			return &Problem{Field: "details.extended", Code: "extended", Message: "want simple or extended", Hint: "Art der Bescheinigung wählen."}
		},
	},
	"details.move_in_date":                  str(func(f *File) *string { return &f.Details.MoveInDate }),
	"details.previous_address.street":       prevAddress(func(a *Address) *string { return &a.Street }),
	"details.previous_address.house_number": prevAddress(func(a *Address) *string { return &a.HouseNumber }),
	"details.previous_address.postal_code":  prevAddress(func(a *Address) *string { return &a.PostalCode }),
	"details.previous_address.city":         prevAddress(func(a *Address) *string { return &a.City }),
	"details.signature_waiver.reason": {
		get: func(f *File) string {
			if f.Details.SignatureWaiver == nil {
				return ""
			}
			return f.Details.SignatureWaiver.Reason
		},
		set: func(f *File, v string) *Problem {
			if v == "" {
				f.Details.SignatureWaiver = nil // no reason, no waiver
				return nil
			}
			f.Details.SignatureWaiver = &Waiver{Reason: v}
			return nil
		},
	},
	"details.id_document.kind":   idDocument(func(d *IDDocument) *string { return &d.Kind }),
	"details.id_document.number": idDocument(func(d *IDDocument) *string { return &d.Number }),
}

func init() {
	for _, cs := range Confirmations {
		for _, c := range cs {
			paths["details.confirmations."+c] = confirmation(c)
		}
	}
}

// Paths lists every case-file path Set accepts, sorted.
func Paths() []string {
	out := make([]string, 0, len(paths))
	for p := range paths {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Set stores value v at a case-file path. An unknown path is a programming error; a value that
// cannot be stored at all (a height that is no number) is a *ValidationError.
func (f *File) Set(path, v string) error {
	d, ok := paths[path]
	if !ok {
		return fmt.Errorf("case file: unknown path %q", path)
	}
	if p := d.set(f, strings.TrimSpace(v)); p != nil {
		return &ValidationError{[]Problem{*p}}
	}
	return nil
}

// Get reads the value at a case-file path ("" for an unknown path).
func (f *File) Get(path string) string {
	if d, ok := paths[path]; ok {
		return d.get(f)
	}
	return ""
}

// Complete fills in what the kit knows itself before a case is checked and sealed: the photo
// source from what was captured, each kept fingerprint's attempts, quality and method from the
// capture record, and that no fingerprints could be taken when the record says so.
func (f *File) Complete() {
	if f.Service != Personalausweis {
		return
	}
	d := &f.Details
	if d.PhotoSource == "" {
		switch {
		case d.PhotoCode != "":
			d.PhotoSource = PhotoPhotographer
		case slices.ContainsFunc(f.Attachments, func(a Attachment) bool { return a.Kind == KindPhoto }):
			d.PhotoSource = PhotoAuthority
		}
	}
	if d.Fingerprints == nil {
		return
	}
	hands := d.Fingerprints.Hands()
	for i := range f.Attachments {
		at := &f.Attachments[i]
		if at.Kind != KindFingerprint {
			continue
		}
		for _, h := range hands {
			if h.Status != HandCaptured || h.Finger != at.Finger {
				continue
			}
			if at.Attempts == 0 {
				at.Attempts = len(h.Attempts)
			}
			if at.Quality == nil && h.Best >= 0 {
				q := h.Best
				at.Quality = &q
			}
			if at.Method == "" {
				at.Method = h.Method
			}
			at.ByOperator = at.ByOperator || h.Operator
		}
	}
	if d.Fingerprints.NoneTaken() && !slices.ContainsFunc(f.Attachments, func(a Attachment) bool { return a.Kind == KindFingerprint }) {
		d.FingerprintsImpossible = true
	}
}
