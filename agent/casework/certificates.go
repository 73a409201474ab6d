package casework

import (
	"context"
	"fmt"
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
		// The kind of dwelling is printed only once the form asks it (issue 12, item 4).
		return documents.Anmeldebestaetigung{Issue: issue, Person: person, Address: address,
			MovedIn: moved, Registered: now}, nil
	case cases.DocForm:
		fields := []documents.Field{
			{Label: "Familienname", Value: person.FamilyName},
			{Label: "Vornamen", Value: person.GivenNames},
			{Label: "Geburtsdatum", Value: deDate(f.Person.BirthDate)},
			{Label: "Geburtsort", Value: person.BirthPlace},
			{Label: "Staatsangehörigkeit", Value: f.Person.Nationality},
			{Label: "Neue Anschrift", Value: address},
			{Label: "Einzugsdatum", Value: deDate(f.Details.MoveInDate)},
		}
		if p := f.Details.PreviousAddress; p != nil {
			fields = append(fields, documents.Field{Label: "Bisherige Anschrift", Value: formatAddress(*p)})
		}
		return documents.Formular{Issue: issue, Title: "Anmeldeformular", Signer: "meldepflichtigen Person",
			Basis: "Anmeldung bei der Meldebehörde (§ 17 Abs. 1, § 23 Bundesmeldegesetz)", Fields: fields}, nil
	}
	return nil, fmt.Errorf("print: unknown document %q", doc)
}

func formatAddress(a cases.Address) string {
	street := strings.TrimSpace(a.Street + " " + a.HouseNumber)
	city := strings.TrimSpace(a.PostalCode + " " + a.City)
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
