package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"koffer/agent/cases"
	"koffer/agent/documents"
	"koffer/devices/ipp"
	"koffer/store"
)

// Printer is what the agent needs from a printer; *ipp.Client and *sim.Printer have it.
type Printer interface {
	Print(ctx context.Context, doc ipp.Document, onUpdate func(ipp.JobStatus)) (ipp.Result, error)
}

// authority is the letterhead of every certificate, from the config.
func (c Config) authority() (documents.Authority, string) {
	a := documents.Authority{Name: c.AuthorityName, Address: c.AuthorityAddress}
	if a.Name == "" {
		a.Name = "Bürgeramt"
	}
	return a, c.Place
}

// certificate lays out document doc of case c from the values the caseworker captured.
// Dates the caseworker did not give stay empty on paper rather than being guessed.
func (b *WebBackend) certificate(ctx context.Context, doc string, c *store.Case, st *draftState, title string) (documents.Certificate, error) {
	f := &st.File
	now := b.a.now()
	auth, place := b.a.opts.Config.authority()
	if b.a.opts.Training {
		auth.Name += " (Schulung)"
	}
	issue := documents.Issue{Authority: auth, CaseID: c.ID, Issued: now, Place: place, Clerk: b.a.kit.Bundle.KitID}
	birth, _ := time.Parse(time.DateOnly, f.Person.BirthDate)
	person := documents.Person{FamilyName: f.Person.FamilyName, GivenNames: f.Person.GivenNames,
		BirthDate: birth, BirthPlace: f.Person.BirthPlace}
	address := formatAddress(f.Person.Address)

	switch doc {
	case cases.DocReceipt:
		fee := cases.ServiceFee(f.Service, now, cases.Age(birth, now), f.Details.Provisional)
		return documents.AusweisQuittung{Issue: issue, Person: person, Received: now,
			FeeCents: int(fee.Cents), TownHallCase: c.ReceiptNumber}, nil
	case cases.DocConfirmation:
		return documents.Lebensbescheinigung{Issue: issue, Person: person, Address: address,
			Insurer: f.Details.Insurer, InsurerRef: f.Details.Reference}, nil
	case cases.DocRegister:
		return b.meldebescheinigung(ctx, issue, st)
	case cases.DocRegistration:
		moved, _ := time.Parse(time.DateOnly, f.Details.MoveInDate)
		return documents.Anmeldebestaetigung{Issue: issue, Person: person, Address: address,
			Dwelling: "alleinige Wohnung", MovedIn: moved, Registered: now}, nil
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
		return documents.Formular{Issue: issue, Title: title,
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

func (b *WebBackend) meldebescheinigung(ctx context.Context, issue documents.Issue, st *draftState) (documents.Certificate, error) {
	if st.File.Details.Extended {
		return nil, attachErr(cases.ErrExtended)
	}
	visitID := st.VisitID
	if visitID == "" {
		return nil, attachErr(cases.ErrNoExtract)
	}
	ap, err := b.a.Appointment(ctx, visitID)
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
