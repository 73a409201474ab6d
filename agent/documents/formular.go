package documents

import "time"

// Field is one labelled line of a Formular.
type Field struct{ Label, Value string }

// Formular is a form printed for the citizen's signature, such as the registration form
// (Anmeldung, BMG §23) before the confirmation: the captured fields and the citizen's
// signature line. It is the citizen's declaration, so it carries no "Im Auftrag" block.
type Formular struct {
	Issue
	Title  string
	Basis  string // legal basis line, may be empty
	Fields []Field
	Signer string // who signs, in the genitive: "meldepflichtigen Person"; default "antragstellenden Person"
}

func (f Formular) build() (*layout, time.Time, error) {
	b := newBuilder(f.Title)
	if err := f.head(b, f.Title, f.Basis); err != nil {
		return nil, time.Time{}, err
	}
	for _, fd := range f.Fields {
		if fd.Value != "" { // only what was captured
			b.field(fd.Label, fd.Value)
		}
	}
	signer := f.Signer
	if signer == "" {
		signer = "antragstellenden Person"
	}
	b.gap(8)
	b.text("Ich versichere, dass die Angaben richtig und vollständig sind.", 11, false)
	b.gap(22)
	b.text("________________________________________", 11, false)
	b.text("Ort, Datum, Unterschrift der "+signer, 9, false)
	f.footer(b, CaseNumber(f.CaseID))
	return b.l, f.Issued, nil
}
