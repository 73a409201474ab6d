package documents

import "time"

// Field is one labelled line of a Formular.
type Field struct{ Label, Value string }

// Formular is a form printed for the citizen's signature, such as the registration form
// (Anmeldung, BMG §23) before the confirmation: the captured fields and a signature line.
type Formular struct {
	Issue
	Title  string
	Basis  string // legal basis line, may be empty
	Fields []Field
}

func (f Formular) build() (*layout, time.Time, error) {
	b := newBuilder(f.Title)
	if err := f.head(b, f.Title, f.Basis); err != nil {
		return nil, time.Time{}, err
	}
	for _, fd := range f.Fields {
		b.field(fd.Label, fd.Value)
	}
	b.gap(8)
	b.text("Ich versichere, dass die Angaben richtig und vollständig sind.", 11, false)
	b.gap(22)
	b.text("________________________________________", 11, false)
	b.text("Ort, Datum, Unterschrift der meldepflichtigen Person", 9, false)
	f.foot(b, f.CaseID)
	return b.l, f.Issued, nil
}
