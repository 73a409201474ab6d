package cases

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Case-file paths of the Meldeschein: details.meldeschein.* for the person registering and
// details.co_movers[i].* for each family member moving in together. A part (a co-mover, an ID
// document, another residence) comes into being with its first value and goes when its last
// value is cleared, so a form's empty slots add nothing.

// Paths the forms fill per list: the UI offers this many ID documents and other residences
// per person; a case file may hold more.
const meldescheinSlots = 2

// at is a text field reached through acc, which creates the parts on the way only when asked.
func at(acc func(f *File, create bool) *string) pathDef {
	return pathDef{
		get: func(f *File) string {
			if p := acc(f, false); p != nil {
				return *p
			}
			return ""
		},
		set: func(f *File, v string) *Problem {
			if p := acc(f, v != ""); p != nil {
				*p = v
			}
			tidyMeldeschein(f)
			return nil
		},
	}
}

func grow[T any](list *[]T, i int, create bool) *T {
	if i >= len(*list) {
		if !create {
			return nil
		}
		*list = append(*list, make([]T, i+1-len(*list))...)
	}
	return &(*list)[i]
}

func registrant(f *File, create bool) *Meldeschein {
	if f.Details.Meldeschein == nil && create {
		f.Details.Meldeschein = new(Meldeschein)
	}
	return f.Details.Meldeschein
}

func coMover(i int) func(f *File, create bool) *CoMover {
	return func(f *File, create bool) *CoMover { return grow(&f.Details.CoMovers, i, create) }
}

func coMoverMeldeschein(i int) func(f *File, create bool) *Meldeschein {
	return func(f *File, create bool) *Meldeschein {
		if m := coMover(i)(f, create); m != nil {
			return &m.Meldeschein
		}
		return nil
	}
}

// addMeldescheinPaths registers the paths of one person's Meldeschein under prefix.
func addMeldescheinPaths(prefix string, ms func(f *File, create bool) *Meldeschein) {
	field := func(name string, fn func(m *Meldeschein) *string) {
		paths[prefix+"."+name] = at(func(f *File, create bool) *string {
			if m := ms(f, create); m != nil {
				return fn(m)
			}
			return nil
		})
	}
	field("sex", func(m *Meldeschein) *string { return &m.Sex })
	field("marital_status", func(m *Meldeschein) *string { return &m.MaritalStatus })
	field("religion", func(m *Meldeschein) *string { return &m.Religion })
	field("birth_name", func(m *Meldeschein) *string { return &m.BirthName })
	field("doctor_title", func(m *Meldeschein) *string { return &m.DoctorTitle })
	field("dwelling", func(m *Meldeschein) *string { return &m.Dwelling })
	// Further nationalities as one value, codes separated by commas or spaces.
	paths[prefix+".other_nationalities"] = pathDef{
		get: func(f *File) string {
			if m := ms(f, false); m != nil {
				return strings.Join(m.OtherNationalities, ", ")
			}
			return ""
		},
		set: func(f *File, v string) *Problem {
			codes := strings.FieldsFunc(strings.ToUpper(v), func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
			if m := ms(f, len(codes) > 0); m != nil {
				m.OtherNationalities = codes
			}
			tidyMeldeschein(f)
			return nil
		},
	}
	for i := range meldescheinSlots {
		for name, fn := range map[string]func(d *IDDocument) *string{
			"kind":        func(d *IDDocument) *string { return &d.Kind },
			"number":      func(d *IDDocument) *string { return &d.Number },
			"authority":   func(d *IDDocument) *string { return &d.Authority },
			"issued":      func(d *IDDocument) *string { return &d.Issued },
			"valid_until": func(d *IDDocument) *string { return &d.ValidUntil },
		} {
			paths[fmt.Sprintf("%s.id_documents[%d].%s", prefix, i, name)] = at(func(f *File, create bool) *string {
				if m := ms(f, create); m != nil {
					if d := grow(&m.IDDocuments, i, create); d != nil {
						return fn(d)
					}
				}
				return nil
			})
		}
		for name, fn := range addressParts {
			paths[fmt.Sprintf("%s.other_residences[%d].%s", prefix, i, name)] = at(func(f *File, create bool) *string {
				if m := ms(f, create); m != nil {
					if a := grow(&m.OtherResidences, i, create); a != nil {
						return fn(a)
					}
				}
				return nil
			})
		}
	}
}

var addressParts = map[string]func(a *Address) *string{
	"street":       func(a *Address) *string { return &a.Street },
	"house_number": func(a *Address) *string { return &a.HouseNumber },
	"postal_code":  func(a *Address) *string { return &a.PostalCode },
	"city":         func(a *Address) *string { return &a.City },
	"country":      func(a *Address) *string { return &a.Country },
}

func addCoMoverPaths(i int) {
	prefix := fmt.Sprintf("details.co_movers[%d]", i)
	for name, fn := range map[string]func(m *CoMover) *string{
		"relation":    func(m *CoMover) *string { return &m.Relation },
		"family_name": func(m *CoMover) *string { return &m.FamilyName },
		"given_names": func(m *CoMover) *string { return &m.GivenNames },
		"birth_date":  func(m *CoMover) *string { return &m.BirthDate },
		"birth_place": func(m *CoMover) *string { return &m.BirthPlace },
		"nationality": func(m *CoMover) *string { return &m.Nationality },
	} {
		paths[prefix+"."+name] = at(func(f *File, create bool) *string {
			if m := coMover(i)(f, create); m != nil {
				return fn(m)
			}
			return nil
		})
	}
	addMeldescheinPaths(prefix, coMoverMeldeschein(i))
}

// tidyMeldeschein drops the parts of the Meldeschein that hold no value any more: trailing
// empty list entries, an empty Meldeschein.
func tidyMeldeschein(f *File) {
	tidy := func(m *Meldeschein) {
		m.IDDocuments = trimZero(m.IDDocuments)
		m.OtherResidences = trimZero(m.OtherResidences)
		if len(m.OtherNationalities) == 0 {
			m.OtherNationalities = nil
		}
	}
	d := &f.Details
	if d.Meldeschein != nil {
		tidy(d.Meldeschein)
		if reflect.ValueOf(*d.Meldeschein).IsZero() {
			d.Meldeschein = nil
		}
	}
	for i := range d.CoMovers {
		tidy(&d.CoMovers[i].Meldeschein)
	}
	d.CoMovers = trimZero(d.CoMovers)
}

// trimZero removes the zero values at the end of list; nil when none is left.
func trimZero[T any](list []T) []T {
	n := len(list)
	for n > 0 && reflect.ValueOf(list[n-1]).IsZero() {
		n--
	}
	if n == 0 {
		return nil
	}
	return slices.Clip(list[:n])
}

func init() {
	paths["details.previous_address.country"] = prevAddress(func(a *Address) *string { return &a.Country })
	addMeldescheinPaths("details.meldeschein", registrant)
	for i := range MaxCoMovers {
		addCoMoverPaths(i)
	}
}
