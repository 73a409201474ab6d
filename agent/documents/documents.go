// Package documents renders the certificates and receipts the kit prints on the spot, in
// German: as PDF/A-2b with embedded fonts, and as PWG raster for printers without PDF. Both
// are drawn from one layout, so they agree page for page. Inputs are plain structs; the agent
// maps its cases onto them.
package documents

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"koffer/devices/ipp"
)

// Authority is the issuing town hall as printed in the letterhead.
type Authority struct {
	Name    string // "Stadt Musterstadt – Bürgeramt"
	Address string // "Marktplatz 1, 12345 Musterstadt"
}

// Person is the citizen a document is about.
type Person struct {
	FamilyName            string
	GivenNames            string
	DoctorTitle           string // Doktorgrad, may be empty
	ReligiousOrArtistName string // Ordensname/Künstlername, may be empty
	BirthDate             time.Time
	BirthPlace            string
}

// Issue is what every document carries about its issuing.
type Issue struct {
	Authority Authority
	CaseID    string    // local case id (UUIDv7): in full in the code, as CaseNumber in the text
	Issued    time.Time // date of issue; also the PDF creation date
	Place     string    // place of issue ("Musterstadt"); without one the date line has no place
	// Caseworker is the name printed under "Im Auftrag": the citizen must be able to tell
	// who acted for the authority. Empty leaves the line for a handwritten name.
	Caseworker string
	// Training marks every page as a training print without legal effect.
	Training bool
}

// Meldebescheinigung is a simple register extract (BMG §18(1)) from the visit pack: the seven
// data the statute lists, no more.
type Meldebescheinigung struct {
	Issue
	Person
	FormerNames string // frühere Namen, may be empty
	BirthState  string // state of birth when born abroad, else empty
	Address     string // current address
	Dwelling    string // "Hauptwohnung" or "Nebenwohnung"
}

// Anmeldebestaetigung is the free registration confirmation (BMG §24(2)). It prints the data
// of Meldebestaetigung24 that were captured, nothing else: Ordens-/Künstlername and birth place
// stay off it, and an empty DoctorTitle or Dwelling (not asked) leaves its line out.
type Anmeldebestaetigung struct {
	Issue
	Person
	Address    string    // new address
	Dwelling   string    // "alleinige Wohnung", "Hauptwohnung" or "Nebenwohnung"; empty when not asked
	MovedIn    time.Time // Einzugsdatum
	Registered time.Time // Tag der Anmeldung
	// CoMovers are the family members registered on the same Meldeschein (BMG §23): each gets
	// their own block of the same § 24(2) data, with the registering person's address and
	// dates.
	CoMovers []CoRegistered
}

// CoRegistered is one more person of an Anmeldebestaetigung.
type CoRegistered struct {
	Person
	Dwelling string // as Anmeldebestaetigung.Dwelling
}

// Lebensbescheinigung confirms that the citizen signed a pension fund's life certificate in
// person before the caseworker.
type Lebensbescheinigung struct {
	Issue
	Person
	Address    string
	Insurer    string // pension fund
	InsurerRef string // the fund's reference (Renten- or Versicherungsnummer)
}

// AusweisQuittung is the receipt for a Personalausweis application.
type AusweisQuittung struct {
	Issue
	Person
	Received     time.Time
	FeeCents     int
	Payment      string // how the fee was paid ("Bar bezahlt"); empty when not captured
	TownHallCase string // the town hall's case number once synced; empty before
}

// TestPage is the printer test page with the kit's identity.
type TestPage struct {
	KitID       string
	KitName     string
	Version     string
	PrinterName string
	Printed     time.Time
}

// Certificate is anything this package renders.
type Certificate interface {
	build() (*layout, time.Time, error)
}

// WritePDF renders c as PDF/A-2b.
func WritePDF(c Certificate, w io.Writer) error {
	l, created, err := c.build()
	if err != nil {
		return err
	}
	return writePDF(l, created, w)
}

// WritePWG renders c as PWG raster at dpi, sgray_8, or black_8 when black is set.
func WritePWG(c Certificate, dpi int, black bool, w io.Writer) error {
	l, _, err := c.build()
	if err != nil {
		return err
	}
	return writePWG(l, dpi, black, w)
}

// Title is the document kind, fit as an IPP job-name (no personal data).
func Title(c Certificate) string {
	l, _, err := c.build()
	if err != nil {
		return "Dokument"
	}
	return l.title
}

// Document makes c printable by package ipp in either format. Each open renders afresh into
// memory (a certificate is a few hundred KiB).
func Document(c Certificate) ipp.Document {
	return ipp.Document{
		Name: Title(c),
		PDF: func() (io.ReadCloser, error) {
			var b bytes.Buffer
			if err := WritePDF(c, &b); err != nil {
				return nil, err
			}
			return io.NopCloser(&b), nil
		},
		Raster: func(s ipp.RasterSpec) (io.ReadCloser, error) {
			var b bytes.Buffer
			if err := WritePWG(c, s.DPI, s.Type == "black_8", &b); err != nil {
				return nil, err
			}
			return io.NopCloser(&b), nil
		},
	}
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("02.01.2006")
}

func euro(cents int) string {
	return fmt.Sprintf("%d,%02d EUR", cents/100, cents%100)
}

func fullName(p Person) string {
	return strings.TrimSpace(strings.Join(strings.Fields(p.DoctorTitle+" "+p.GivenNames+" "+p.FamilyName), " "))
}

// head writes letterhead, title and legal basis.
func (is Issue) head(b *builder, title, basis string) error {
	b.text(is.Authority.Name, 10, true)
	if is.Authority.Address != "" {
		b.text(is.Authority.Address, 9, false)
	}
	if is.Training {
		b.text(trainingMark, 9, true)
	}
	b.gap(14)
	b.text(title, 18, true)
	if basis != "" {
		b.text(basis, 9, false)
	}
	b.rule()
	if is.CaseID != "" {
		return b.code(is.CaseID)
	}
	return nil
}

// trainingMark is printed on every training document, so no print of a training kit can pass
// for an official one.
const trainingMark = "SCHULUNG – Übungsausdruck ohne Rechtswirkung"

// dateLine is "Musterstadt, den 14.03.2026", or without a place "Ausgestellt am 14.03.2026"
// (never a line starting with ", den").
func (is Issue) dateLine() string {
	if p := strings.TrimSpace(is.Place); p != "" {
		return fmt.Sprintf("%s, den %s", p, date(is.Issued))
	}
	return "Ausgestellt am " + date(is.Issued)
}

// foot writes the authority's date line and signature block ("Im Auftrag" and the
// caseworker's name), then the footer; ref is the case reference for the footer.
func (is Issue) foot(b *builder, ref string) {
	b.gap(10)
	b.text(is.dateLine(), 11, false)
	b.gap(6)
	b.text("Im Auftrag", 11, false)
	b.gap(12)
	if is.Caseworker != "" {
		b.text(is.Caseworker, 11, false)
	} else {
		b.text("________________________________________", 11, false)
	}
	is.footer(b, ref)
}

// footer puts authority, case reference and, in training, the training mark on every page.
func (is Issue) footer(b *builder, ref string) {
	s := is.Authority.Name + " · Vorgang " + ref
	if is.Training {
		s = "SCHULUNG · " + s
	}
	b.footer(s)
}

func (p Person) fields(b *builder) {
	b.field("Familienname", p.FamilyName)
	b.field("Vornamen", p.GivenNames)
	if p.DoctorTitle != "" {
		b.field("Doktorgrad", p.DoctorTitle)
	}
	b.field("Geburtsdatum", date(p.BirthDate))
}

func (m Meldebescheinigung) build() (*layout, time.Time, error) {
	b := newBuilder("Meldebescheinigung")
	if err := m.head(b, "Meldebescheinigung", "Einfache Meldebescheinigung nach § 18 Abs. 1 Bundesmeldegesetz (BMG)"); err != nil {
		return nil, time.Time{}, err
	}
	b.text("Laut Melderegister ist folgende Person gemeldet:", 11, false)
	b.gap(3)
	b.field("Familienname", m.FamilyName)
	if m.FormerNames != "" {
		b.field("Frühere Namen", m.FormerNames)
	}
	b.field("Vornamen", m.GivenNames)
	if m.DoctorTitle != "" {
		b.field("Doktorgrad", m.DoctorTitle)
	}
	if m.ReligiousOrArtistName != "" {
		b.field("Ordens-/Künstlername", m.ReligiousOrArtistName)
	}
	b.field("Geburtsdatum", date(m.BirthDate))
	birthPlace := m.BirthPlace
	if m.BirthState != "" {
		birthPlace += " (" + m.BirthState + ")"
	}
	b.field("Geburtsort", birthPlace)
	b.field("Anschrift", m.Address)
	b.field("Wohnungsstatus", m.Dwelling)
	m.foot(b, CaseNumber(m.CaseID))
	return b.l, m.Issued, nil
}

func (a Anmeldebestaetigung) build() (*layout, time.Time, error) {
	// "Meldebestätigung", as the statute and the caseworker's button call it.
	b := newBuilder("Meldebestätigung")
	if err := a.head(b, "Meldebestätigung", "Amtliche Meldebestätigung nach § 24 Abs. 2 Bundesmeldegesetz (BMG) – gebührenfrei"); err != nil {
		return nil, time.Time{}, err
	}
	if len(a.CoMovers) == 0 {
		b.text("Die folgende Person hat sich angemeldet:", 11, false)
	} else {
		b.text(fmt.Sprintf("Die folgenden %d Personen haben sich angemeldet:", 1+len(a.CoMovers)), 11, false)
	}
	b.gap(3)
	persons := []Anmeldebestaetigung{a}
	for _, m := range a.CoMovers {
		p := a
		p.Person, p.Dwelling = m.Person, m.Dwelling
		persons = append(persons, p)
	}
	for i, p := range persons {
		if i > 0 {
			b.gap(4)
		}
		for _, d := range Meldebestaetigung24 {
			if v := d.value(p); v != "" {
				b.field(d.Label, v)
			}
		}
	}
	a.foot(b, CaseNumber(a.CaseID))
	return b.l, a.Issued, nil
}

func (l Lebensbescheinigung) build() (*layout, time.Time, error) {
	b := newBuilder("Bestätigung der Lebensbescheinigung")
	if err := l.head(b, "Bestätigung der Lebensbescheinigung", ""); err != nil {
		return nil, time.Time{}, err
	}
	l.Person.fields(b)
	b.field("Anschrift", l.Address)
	b.field("Rentenversicherung", l.Insurer)
	if l.InsurerRef != "" {
		b.field("Aktenzeichen", l.InsurerRef)
	}
	b.gap(4)
	// The insurer's name stands alone after "gegenüber:" so that no article has to agree
	// with it ("der Deutsche Rentenversicherung" was wrong; names of foreign funds vary).
	b.text(fmt.Sprintf("Hiermit wird bestätigt, dass %s heute persönlich vor mir erschienen ist, "+
		"sich ausgewiesen und die vorgelegte Lebensbescheinigung eigenhändig unterschrieben hat.",
		fullName(l.Person)), 11, false)
	if l.Insurer != "" {
		b.text("Lebensbescheinigung gegenüber: "+l.Insurer, 11, false)
	}
	l.foot(b, CaseNumber(l.CaseID))
	return b.l, l.Issued, nil
}

func (q AusweisQuittung) build() (*layout, time.Time, error) {
	// "Antragsquittung", as the button that prints it says.
	b := newBuilder("Antragsquittung Personalausweis")
	if err := q.head(b, "Antragsquittung", "Antrag auf einen Personalausweis (§ 9 PAuswG)"); err != nil {
		return nil, time.Time{}, err
	}
	b.field("Antragsteller/in", fullName(q.Person))
	b.field("Geburtsdatum", date(q.BirthDate))
	b.field("Antrag aufgenommen", date(q.Received))
	b.field("Gebühr", euro(q.FeeCents))
	if q.Payment != "" {
		b.field("Zahlungsart", q.Payment)
	}
	if q.TownHallCase != "" {
		b.field("Vorgangsnummer", q.TownHallCase)
	} else {
		b.field("Vorläufige Nummer", CaseNumber(q.CaseID))
		b.gap(2)
		b.text("Der Antrag wird an das Bürgeramt übermittelt, sobald eine Verbindung besteht. "+
			"Bitte bewahren Sie diese Bestätigung auf; die endgültige Vorgangsnummer erhalten Sie vom Bürgeramt.", 10, false)
	}
	b.gap(2)
	b.text("Sie werden benachrichtigt, sobald der Ausweis abgeholt werden kann.", 10, false)
	ref := CaseNumber(q.CaseID)
	if q.TownHallCase != "" {
		ref = q.TownHallCase
	}
	q.foot(b, ref)
	return b.l, q.Issued, nil
}

func (t TestPage) build() (*layout, time.Time, error) {
	b := newBuilder("Testseite")
	b.text("Bürgerkoffer – Testseite", 18, true)
	b.rule()
	b.field("Koffer", t.KitName)
	b.field("Koffer-ID", t.KitID)
	b.field("Software", "koffer "+t.Version)
	b.field("Drucker", t.PrinterName)
	b.field("Gedruckt am", t.Printed.Format("02.01.2006 15:04"))
	b.gap(6)
	b.text("Umlaute: ÄÖÜ äöü ß – „Grüße aus Köln“", 12, false)
	b.text("Wenn diese Seite sauber gedruckt ist, ist der Drucker bereit.", 11, false)
	if t.KitID != "" {
		if err := b.code(t.KitID); err != nil {
			return nil, time.Time{}, err
		}
	}
	b.footer("Koffer " + t.KitID)
	return b.l, t.Printed, nil
}
