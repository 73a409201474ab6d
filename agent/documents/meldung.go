package documents

// Datum is one datum a certificate may carry, with the provision that lists it.
type Datum struct {
	Label string // as printed
	Law   string // the provision, e.g. "§ 24 Abs. 2 Satz 2 Nr. 1 BMG"
	value func(Anmeldebestaetigung) string
}

// Meldebestaetigung24 is the closed list of § 24 Abs. 2 Satz 2 BMG: the amtliche
// Meldebestätigung "darf nur folgende Daten enthalten", in the statute's order. Nr. 2 asks to
// mark the name in use (gebräuchlicher Vorname); the kit prints the given names as captured.
var Meldebestaetigung24 = []Datum{
	{Label: "Familienname", Law: "§ 24 Abs. 2 Satz 2 Nr. 1 BMG", value: func(a Anmeldebestaetigung) string { return a.FamilyName }},
	{Label: "Vornamen", Law: "§ 24 Abs. 2 Satz 2 Nr. 2 BMG", value: func(a Anmeldebestaetigung) string { return a.GivenNames }},
	{Label: "Doktorgrad", Law: "§ 24 Abs. 2 Satz 2 Nr. 3 BMG", value: func(a Anmeldebestaetigung) string { return a.DoctorTitle }},
	{Label: "Geburtsdatum", Law: "§ 24 Abs. 2 Satz 2 Nr. 4 BMG", value: func(a Anmeldebestaetigung) string { return date(a.BirthDate) }},
	{Label: "Einzugsdatum", Law: "§ 24 Abs. 2 Satz 2 Nr. 5 BMG", value: func(a Anmeldebestaetigung) string { return date(a.MovedIn) }},
	{Label: "Tag der Anmeldung", Law: "§ 24 Abs. 2 Satz 2 Nr. 6 BMG", value: func(a Anmeldebestaetigung) string { return date(a.Registered) }},
	{Label: "Anschrift", Law: "§ 24 Abs. 2 Satz 2 Nr. 7 BMG", value: func(a Anmeldebestaetigung) string { return a.Address }},
	{Label: "Wohnung", Law: "§ 24 Abs. 2 Satz 2 Nr. 8 BMG", value: func(a Anmeldebestaetigung) string { return a.Dwelling }},
}
