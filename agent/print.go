package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"koffer/agent/cases"
	"koffer/agent/documents"
	"koffer/agent/web"
	"koffer/devices/ipp"
	"koffer/store"
	"koffer/sync/enroll"
)

// Printer is what the agent needs from a printer; *ipp.Client and *sim.Printer have it.
type Printer interface {
	Print(ctx context.Context, doc ipp.Document, onUpdate func(ipp.JobStatus)) (ipp.Result, error)
}

// letterhead is the issuing authority of every certificate: the enrollment bundle's (the town
// hall sets it once), else the config's (kits enrolled before bundles carried one), else, on a
// training kit, the marked training values. Nothing is made up for a real kit.
func (a *Agent) letterhead() (documents.Authority, string) {
	lh := a.kit.Bundle.Letterhead
	if lh == (enroll.Letterhead{}) {
		lh = enroll.Letterhead{AuthorityName: a.opts.Config.AuthorityName,
			AuthorityAddress: a.opts.Config.AuthorityAddress, Place: a.opts.Config.Place}
	}
	if lh == (enroll.Letterhead{}) && a.opts.Training {
		lh = enroll.TrainingLetterhead
	}
	auth := documents.Authority{Name: lh.AuthorityName, Address: lh.AuthorityAddress}
	if auth.Name == "" {
		auth.Name = "Bürgeramt"
	}
	return auth, lh.Place
}

// certificate lays out document doc of case c from the values the caseworker captured.
// Dates the caseworker did not give stay empty on paper rather than being guessed.
// TODO(integrator): pass the logged-in caseworker's display name into Issue.Caseworker
// (web.Change.Caseworker at the call in webui.go), so it prints under "Im Auftrag".
func (b *WebBackend) certificate(ctx context.Context, doc string, c *store.Case, st *uiState, title string) (documents.Certificate, error) {
	v := st.Values
	f, _ := caseFile(cases.Service(c.Service), v)
	now := b.a.now()
	auth, place := b.a.letterhead()
	issue := documents.Issue{Authority: auth, CaseID: c.ID, Issued: now, Place: place, Training: b.a.opts.Training}
	birth, _ := time.Parse(time.DateOnly, f.Person.BirthDate)
	person := documents.Person{FamilyName: f.Person.FamilyName, GivenNames: f.Person.GivenNames,
		BirthDate: birth, BirthPlace: f.Person.BirthPlace}
	address := formatAddress(f.Person.Address)

	switch doc {
	case web.DocReceipt:
		fee := cases.ServiceFee(f.Service, now, cases.Age(birth, now), f.Details.Provisional)
		return documents.AusweisQuittung{Issue: issue, Person: person, Received: now,
			FeeCents: int(fee.Cents), Payment: optionLabel(web.Service(c.Service), "zahlart", v["zahlart"]),
			TownHallCase: c.ReceiptNumber}, nil
	case web.DocConfirmation:
		return documents.Lebensbescheinigung{Issue: issue, Person: person, Address: address,
			Insurer: f.Details.Insurer, InsurerRef: f.Details.Reference}, nil
	case web.DocRegister:
		return b.meldebescheinigung(ctx, issue, st)
	case web.DocRegistration:
		moved, _ := time.Parse(time.DateOnly, f.Details.MoveInDate)
		// The kind of dwelling is printed only once the form asks it (issue 12, item 4).
		return documents.Anmeldebestaetigung{Issue: issue, Person: person, Address: address,
			MovedIn: moved, Registered: now}, nil
	case web.DocForm:
		fields := []documents.Field{
			{Label: "Familienname", Value: person.FamilyName},
			{Label: "Vornamen", Value: person.GivenNames},
			{Label: "Geburtsdatum", Value: v["geburtsdatum"]},
			{Label: "Geburtsort", Value: person.BirthPlace},
			{Label: "Staatsangehörigkeit", Value: f.Person.Nationality},
			{Label: "Neue Anschrift", Value: address},
			{Label: "Einzugsdatum", Value: v["einzug"]},
		}
		if p := f.Details.PreviousAddress; p != nil {
			fields = append(fields, documents.Field{Label: "Bisherige Anschrift", Value: formatAddress(*p)})
		}
		return documents.Formular{Issue: issue, Title: title, Signer: "meldepflichtigen Person",
			Basis: "Anmeldung bei der Meldebehörde (§ 17 Abs. 1, § 23 Bundesmeldegesetz)", Fields: fields}, nil
	}
	return nil, fmt.Errorf("print: unknown document %q", doc)
}

// optionLabel is the German label of the option value chosen for field in service s's flow
// ("bar" -> "Bar bezahlt"); empty when nothing was chosen.
func optionLabel(s web.Service, field, value string) string {
	flow, _ := web.FlowOf(s)
	for _, st := range flow.Steps {
		for _, fd := range st.Fields {
			if fd.Name != field {
				continue
			}
			for _, o := range fd.Options {
				if o.Value == value {
					return o.Label
				}
			}
		}
	}
	return ""
}

func formatAddress(a cases.Address) string {
	street := strings.TrimSpace(a.Street + " " + a.HouseNumber)
	city := strings.TrimSpace(a.PostalCode + " " + a.City)
	if street == "" || city == "" {
		return street + city
	}
	return street + ", " + city
}

// errNoExtract: a Meldebescheinigung certifies what the register holds, so it is printed from
// the visit pack's register extract only, never from what was typed at the door.
var errNoExtract = &web.ValidationError{Fields: map[string]string{"": "Für diese Meldebescheinigung liegt kein Registerauszug vor. " +
	"Bitte den Vorgang über den gebuchten Besuch auf der Startseite beginnen; ohne Besuchspaket stellt das Bürgeramt die Bescheinigung aus."}}

// errExtended: the visit pack carries the simple extract (§18(1) BMG) only.
var errExtended = &web.ValidationError{Fields: map[string]string{"": "Eine erweiterte Meldebescheinigung stellt das Bürgeramt aus. " +
	"Der Koffer kann die einfache Meldebescheinigung drucken: bitte unter „Registerauszug und Ausweis“ ändern."}}

func (b *WebBackend) meldebescheinigung(ctx context.Context, issue documents.Issue, st *uiState) (documents.Certificate, error) {
	if st.Values["art"] == "erweitert" {
		return nil, errExtended
	}
	visitID := st.VisitID
	if visitID == "" {
		return nil, errNoExtract
	}
	ap, err := b.a.Appointment(ctx, visitID)
	if err != nil {
		return nil, lockedErr(err)
	}
	e := ap.Register
	if e == nil {
		return nil, errNoExtract
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
