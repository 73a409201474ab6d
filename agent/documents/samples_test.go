package documents

import (
	"image"
	"image/png"
	"io"
	"time"
)

var (
	issued = time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC)
	auth   = Authority{Name: "Stadt Müßingen – Bürgeramt", Address: "Marktplatz 1, 12345 Müßingen"}
	person = Person{FamilyName: "Größmann", GivenNames: "Jürgen Äneas", DoctorTitle: "Dr.", BirthDate: time.Date(1941, 5, 2, 0, 0, 0, 0, time.UTC), BirthPlace: "Görlitz"}
	issue  = Issue{Authority: auth, CaseID: "0195f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e", Issued: issued, Place: "Müßingen", Caseworker: "Anna Beispiel"}
)

func sampleMelde() Meldebescheinigung {
	return Meldebescheinigung{Issue: issue, Person: person, Address: "Straße der Einheit 7, 12345 Müßingen",
		FormerNames: "Kleinert", Dwelling: "Hauptwohnung"}
}

func sampleAnmeldung() Anmeldebestaetigung {
	return Anmeldebestaetigung{Issue: issue, Person: person, Address: "Sonnenstraße 3, 12345 Müßingen",
		Dwelling: "alleinige Wohnung", MovedIn: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Registered: issued}
}

func sampleLeben() Lebensbescheinigung {
	return Lebensbescheinigung{Issue: issue, Person: person, Address: "Pflegeheim Abendrot, Zimmer 12, 12345 Müßingen",
		Insurer: "Deutsche Rentenversicherung Bund", InsurerRef: "12 020541 G 007"}
}

func sampleQuittung(townHall string) AusweisQuittung {
	return AusweisQuittung{Issue: issue, Person: person, Received: issued, FeeCents: 4600, Payment: "Bar bezahlt", TownHallCase: townHall}
}

func sampleFormular() Formular {
	return Formular{Issue: issue, Title: "Anmeldung einer Wohnung", Basis: "Anmeldung bei der Meldebehörde (§ 17 Abs. 1, § 23 Bundesmeldegesetz)",
		Signer: "meldepflichtigen Person", Fields: []Field{
			{"Familienname", "Größmann"}, {"Vornamen", "Jürgen Äneas"}, {"Geburtsdatum", "02.05.1941"},
			{"Ordens-/Künstlername", ""}, {"Neue Anschrift", "Sonnenstraße 3, 12345 Müßingen"}, {"Einzugsdatum", "01.03.2026"},
		}}
}

func sampleTestPage() TestPage {
	return TestPage{KitID: "kit-7f3a", KitName: "Koffer Süd 2", Version: "v0.1.0", PrinterName: "Kofferdrucker", Printed: issued}
}

func encodePNG(w io.Writer, img image.Image) error { return png.Encode(w, img) }
