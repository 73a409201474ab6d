package casework

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"koffer/agent/cases"
	"koffer/agent/documents"
	"koffer/store"
	"koffer/sync/visit"
)

// certificate lays out document doc of case c from the values the caseworker captured.
// Dates the caseworker did not give stay empty on paper rather than being guessed.
// caseworker is who signs "Im Auftrag".
func (k *Core) certificate(ctx context.Context, doc string, c *store.Case, st *draftState, caseworker string) (documents.Certificate, error) {
	f := &st.File
	now := k.now()
	issue := documents.Issue{Authority: k.opts.Authority, CaseID: c.ID, Issued: now, Place: k.opts.Place,
		Caseworker: caseworker, Training: k.opts.Training}
	birth, _ := time.Parse(time.DateOnly, f.Person.BirthDate)
	person := documents.Person{FamilyName: f.Person.FamilyName, GivenNames: f.Person.GivenNames,
		BirthDate: birth, BirthPlace: f.Person.BirthPlace}
	address := formatAddress(f.Person.Address)

	switch doc {
	case cases.DocReceipt:
		fee := cases.ServiceFee(f.Service, now, cases.Age(birth, now), f.Details.Provisional)
		return documents.AusweisQuittung{Issue: issue, Person: person, Received: now,
			FeeCents: int(fee.Cents), Payment: cases.PaymentLabels[f.Details.Payment], TownHallCase: c.ReceiptNumber}, nil
	case cases.DocConfirmation:
		return documents.Lebensbescheinigung{Issue: issue, Person: person, Address: address,
			Insurer: f.Details.Insurer, InsurerRef: f.Details.Reference}, nil
	case cases.DocRegister:
		return k.meldebescheinigung(ctx, issue, st)
	case cases.DocRegistration:
		moved, _ := time.Parse(time.DateOnly, f.Details.MoveInDate)
		// Doctor title and dwelling kind only as captured: an empty one leaves its line out.
		ms := f.Details.Meldeschein
		if ms == nil {
			ms = &cases.Meldeschein{}
		}
		person.DoctorTitle = ms.DoctorTitle
		m := documents.Anmeldebestaetigung{Issue: issue, Person: person, Address: address,
			Dwelling: cases.DwellingLabels[ms.Dwelling], MovedIn: moved, Registered: now}
		for _, c := range f.Details.CoMovers {
			birth, _ := time.Parse(time.DateOnly, c.BirthDate)
			dwelling := c.Dwelling
			if dwelling == "" {
				dwelling = ms.Dwelling // the registering person's (cases.CoMover)
			}
			m.CoMovers = append(m.CoMovers, documents.CoRegistered{Person: documents.Person{FamilyName: c.FamilyName,
				GivenNames: c.GivenNames, DoctorTitle: c.DoctorTitle, BirthDate: birth, BirthPlace: c.BirthPlace},
				Dwelling: cases.DwellingLabels[dwelling]})
		}
		return m, nil
	case cases.DocForm:
		fields := []documents.Field{
			{Label: "Familienname", Value: person.FamilyName},
			{Label: "Vornamen", Value: person.GivenNames},
			{Label: "Geburtsdatum", Value: deDate(f.Person.BirthDate)},
			{Label: "Geburtsort", Value: person.BirthPlace},
			{Label: "Staatsangehörigkeit", Value: f.Person.Nationality},
		}
		if ms := f.Details.Meldeschein; ms != nil {
			fields = append(fields, meldescheinFields(*ms)...)
		}
		fields = append(fields,
			documents.Field{Label: "Neue Anschrift", Value: address},
			documents.Field{Label: "Einzugsdatum", Value: deDate(f.Details.MoveInDate)})
		if ms := f.Details.Meldeschein; ms != nil && ms.Dwelling != "" {
			fields = append(fields, documents.Field{Label: "Wohnung", Value: cases.DwellingLabels[ms.Dwelling]})
			for _, r := range ms.OtherResidences {
				fields = append(fields, documents.Field{Label: "Weitere Wohnung", Value: formatAddress(r)})
			}
		}
		if p := f.Details.PreviousAddress; p != nil {
			fields = append(fields, documents.Field{Label: "Bisherige Anschrift", Value: formatAddress(*p)})
		}
		for i, c := range f.Details.CoMovers {
			who := fmt.Sprintf("Mitziehende Person %d", i+1)
			fields = append(fields,
				documents.Field{Label: who, Value: strings.TrimSpace(c.GivenNames + " " + c.FamilyName + " (" + cases.RelationLabels[c.Relation] + ")")},
				documents.Field{Label: "Geburtsdatum, -ort", Value: strings.Trim(deDate(c.BirthDate)+", "+c.BirthPlace, ", ")},
				documents.Field{Label: "Staatsangehörigkeit", Value: c.Nationality})
			fields = append(fields, meldescheinFields(c.Meldeschein)...)
		}
		return documents.Formular{Issue: issue, Title: "Anmeldeformular", Signer: "meldepflichtigen Person",
			Basis: "Anmeldung bei der Meldebehörde (§ 17 Abs. 1, § 23 Bundesmeldegesetz)", Fields: fields}, nil
	}
	return nil, fmt.Errorf("print: unknown document %q", doc)
}

// meldescheinFields are the Meldeschein data of one person the form prints: only what was
// captured.
func meldescheinFields(m cases.Meldeschein) []documents.Field {
	var out []documents.Field
	add := func(label, v string) {
		if v != "" {
			out = append(out, documents.Field{Label: label, Value: v})
		}
	}
	add("Geburtsname", m.BirthName)
	add("Doktorgrad", m.DoctorTitle)
	add("Geschlecht", cases.SexLabels[m.Sex])
	add("Familienstand", cases.MaritalLabels[m.MaritalStatus])
	add("Religion", cases.ReligionLabels[m.Religion])
	add("Weitere Staatsangehörigkeiten", strings.Join(m.OtherNationalities, ", "))
	for _, d := range m.IDDocuments {
		parts := []string{cases.IDDocumentLabels[d.Kind], d.Number, d.Authority}
		if d.Issued != "" {
			parts = append(parts, "ausgestellt "+deDate(d.Issued))
		}
		if d.ValidUntil != "" {
			parts = append(parts, "gültig bis "+deDate(d.ValidUntil))
		}
		add("Ausweis", strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), ", "))
	}
	return out
}

func formatAddress(a cases.Address) string {
	street := strings.TrimSpace(a.Street + " " + a.HouseNumber)
	city := strings.TrimSpace(a.PostalCode + " " + a.City)
	if a.Abroad() {
		city = strings.TrimSpace(city + ", " + a.Country)
	}
	if street == "" || city == "" {
		return street + city
	}
	return street + ", " + city
}

// deDate shows YYYY-MM-DD as TT.MM.JJJJ on paper; a date not given stays empty.
func deDate(v string) string {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.Format("02.01.2006")
	}
	return ""
}

func (k *Core) meldebescheinigung(ctx context.Context, issue documents.Issue, st *draftState) (documents.Certificate, error) {
	if st.File.Details.Extended {
		return nil, attachErr(cases.ErrExtended)
	}
	visitID := st.VisitID
	if visitID == "" {
		return nil, attachErr(cases.ErrNoExtract)
	}
	ap, err := k.opts.Visits.Appointment(ctx, visitID)
	if err != nil {
		return nil, lockedErr(err)
	}
	e := ap.Register
	if e == nil {
		return nil, attachErr(cases.ErrNoExtract)
	}
	birth, _ := time.Parse(time.DateOnly, e.BirthDate)
	m := documents.Meldebescheinigung{Issue: issue, Person: documents.Person{
		FamilyName: e.FamilyName, GivenNames: e.GivenNames, DoctorTitle: e.DoctorTitle,
		ReligiousOrArtistName: e.ReligiousOrArtistName, BirthDate: birth, BirthPlace: e.BirthPlace,
	}, FormerNames: e.FormerNames, BirthState: e.BirthState}
	var addrs, kinds []string
	for _, r := range e.Residences {
		addrs = append(addrs, r.Address)
		kinds = append(kinds, r.Dwelling)
	}
	m.Address, m.Dwelling = strings.Join(addrs, "; "), strings.Join(kinds, "; ")
	return m, nil
}

// prefill is the case file a draft starts from: the appointment's person, if any. For a
// registration the pack's address is where the person lived until now. Identity cards are for
// Germans only (PAuswG §1), so that nationality is the start.
func prefill(s cases.Service, p *visit.Person) *cases.File {
	f := &cases.File{Service: s}
	if s == cases.Personalausweis {
		f.Person.Nationality = "DEU"
	}
	if p == nil {
		return f
	}
	f.Person.FamilyName, f.Person.GivenNames, f.Person.BirthPlace = p.FamilyName, p.GivenNames, p.BirthPlace
	if _, err := time.Parse(time.DateOnly, p.BirthDate); err == nil {
		f.Person.BirthDate = p.BirthDate
	}
	if p.Nationality != "" {
		f.Person.Nationality = p.Nationality
	}
	addr := cases.Address{Street: p.Address.Street, HouseNumber: p.Address.HouseNumber, PostalCode: p.Address.PostalCode, City: p.Address.City}
	if s == cases.Wohnsitzanmeldung {
		f.Details.PreviousAddress = &addr
	} else {
		f.Person.Address = addr
	}
	return f
}
