package cases

import (
	"fmt"
	"slices"
	"strings"
)

// The Meldeschein of a Wohnsitzanmeldung (BMG §17(1), §23(1)): per person moving in, the data
// the registration office stores about them (BMG §3(1)); family members moving in together are
// registered on the same Meldeschein (BMG §23). Each datum below names the number of BMG §3(1)
// it fills.

// Meldeschein is the registration data of the person registering beyond Person (name, birth,
// nationality and new address are there).
type Meldeschein struct {
	BirthName   string `json:"birth_name,omitempty"`   // BMG §3(1) Nr. 2 frühere Namen: the birth name
	DoctorTitle string `json:"doctor_title,omitempty"` // BMG §3(1) Nr. 4 Doktorgrad
	Sex         string `json:"sex"`                    // BMG §3(1) Nr. 7: one of Sexes
	// MaritalStatus is BMG §3(1) Nr. 14 Familienstand: one of MaritalStatuses.
	MaritalStatus string `json:"marital_status"`
	// Religion is BMG §3(1) Nr. 11, optional: the public-law religious community (for church
	// tax), one of Religions; empty when the person gives none.
	Religion string `json:"religion,omitempty"`
	// OtherNationalities are BMG §3(1) Nr. 10 derzeitige Staatsangehörigkeiten besides
	// person.nationality (ISO 3166-1 alpha-3).
	OtherNationalities []string `json:"other_nationalities,omitempty"`
	// IDDocuments are BMG §3(1) Nr. 17: the identity card or passport shown (BMG §23(1)).
	IDDocuments []IDDocument `json:"id_documents,omitempty"`
	// Dwelling is BMG §3(1) Nr. 12, §21, §22: the new dwelling as sole, main or secondary
	// residence (one of Dwellings).
	Dwelling string `json:"dwelling"`
	// OtherResidences are the dwellings the person keeps (BMG §21(1)); required when Dwelling
	// is main or secondary.
	OtherResidences []Address `json:"other_residences,omitempty"`
}

// CoMover is a family member moving in together with the person registering (BMG §23), with
// their own Meldeschein data. Their new address and move-in date are the registering person's;
// so is their dwelling kind (and the other residences) when Dwelling is left empty.
type CoMover struct {
	Relation   string `json:"relation"` // one of Relations
	FamilyName string `json:"family_name"`
	GivenNames string `json:"given_names"`
	BirthDate  string `json:"birth_date"` // YYYY-MM-DD
	BirthPlace string `json:"birth_place"`
	// Nationality is BMG §3(1) Nr. 10 (ISO 3166-1 alpha-3); more go to OtherNationalities.
	Nationality string `json:"nationality"`
	Meldeschein
}

// Sexes are the entries of BMG §3(1) Nr. 7 (as in the civil register, PStG §22(3)).
var Sexes = []string{"female", "male", "diverse", "none"}

// MaritalStatuses are the Familienstand values of BMG §3(1) Nr. 14.
var MaritalStatuses = []string{"single", "married", "civil_partnership", "divorced", "widowed", "partnership_dissolved", "unknown"}

// Religions are the communities most registration offices record for church tax (BMG §3(1)
// Nr. 11, §42); "other" for any other public-law religious community.
var Religions = []string{"rk", "ev", "other"}

// Dwellings are the kinds of dwelling of BMG §21, §22.
var Dwellings = []string{"sole", "main", "secondary"}

// Relations are how a co-mover belongs to the person registering.
var Relations = []string{"spouse", "partner", "child", "other"}

// German labels of the values above, as the form offers them and the paper prints them.
// DwellingLabels are the words of the Meldebestätigung (BMG §24(2) Satz 2 Nr. 8).
var (
	SexLabels     = map[string]string{"female": "weiblich", "male": "männlich", "diverse": "divers", "none": "ohne Angabe"}
	MaritalLabels = map[string]string{"single": "ledig", "married": "verheiratet", "civil_partnership": "in eingetragener Lebenspartnerschaft",
		"divorced": "geschieden", "widowed": "verwitwet", "partnership_dissolved": "Lebenspartnerschaft aufgehoben", "unknown": "unbekannt"}
	ReligionLabels   = map[string]string{"rk": "römisch-katholisch", "ev": "evangelisch", "other": "andere öffentlich-rechtliche Religionsgesellschaft"}
	DwellingLabels   = map[string]string{"sole": "alleinige Wohnung", "main": "Hauptwohnung", "secondary": "Nebenwohnung"}
	RelationLabels   = map[string]string{"spouse": "Ehegatte", "partner": "Lebenspartner", "child": "Kind", "other": "andere Angehörige"}
	IDDocumentLabels = map[string]string{"personalausweis": "Personalausweis", "vorlaeufiger_personalausweis": "Vorläufiger Personalausweis",
		"reisepass": "Reisepass", "passersatz": "Passersatzpapier"}
)

// MaxCoMovers bounds the family members on one Meldeschein.
const MaxCoMovers = 9

// IDDocumentKinds are the identity documents a caseworker accepts as proof (BMG §23(1)).
var IDDocumentKinds = []string{"personalausweis", "vorlaeufiger_personalausweis", "reisepass", "passersatz"}

// checkMeldeschein checks one person's Meldeschein data; field is its path.
// A co-mover (inherit) may leave the dwelling empty: then theirs is the registering person's,
// with the same other residences.
func (c *checker) meldeschein(field string, m Meldeschein, inherit bool) {
	c.oneOf(field+".sex", m.Sex, Sexes, "Geschlecht")
	c.oneOf(field+".marital_status", m.MaritalStatus, MaritalStatuses, "Familienstand")
	if m.Religion != "" {
		c.oneOf(field+".religion", m.Religion, Religions, "Religion")
	}
	c.optionalText(field+".birth_name", m.BirthName, "Geburtsname")
	c.optionalText(field+".doctor_title", m.DoctorTitle, "Doktorgrad")
	for i, n := range m.OtherNationalities {
		if !alpha3RE.MatchString(n) {
			c.add(fmt.Sprintf("%s.other_nationalities[%d]", field, i), "nationality", "not an ISO 3166-1 alpha-3 code",
				"Weitere Staatsangehörigkeit als dreistelliger Ländercode angeben (z. B. POL).")
		}
	}
	for i, d := range m.IDDocuments {
		c.idDocument(fmt.Sprintf("%s.id_documents[%d]", field, i), d, true)
	}
	if inherit && m.Dwelling == "" && len(m.OtherResidences) == 0 {
		// the registering person's dwelling
	} else if c.oneOf(field+".dwelling", m.Dwelling, Dwellings, "Art der Wohnung") {
		switch {
		case m.Dwelling == "sole" && len(m.OtherResidences) > 0:
			c.add(field+".other_residences", "contradiction", "a sole dwelling with other residences (BMG §21)",
				"Bei weiteren Wohnungen ist die neue Wohnung Haupt- oder Nebenwohnung, nicht die alleinige Wohnung.")
		case m.Dwelling != "sole" && len(m.OtherResidences) == 0:
			c.add(field+".other_residences", "required", "main or secondary dwelling needs the other residences (BMG §21)",
				"Bei Haupt- oder Nebenwohnung bitte die weitere Wohnung angeben.")
		}
	}
	for i, a := range m.OtherResidences {
		c.address(fmt.Sprintf("%s.other_residences[%d]", field, i), a)
	}
}

func (c *checker) oneOf(field, v string, allowed []string, label string) bool {
	if strings.TrimSpace(v) == "" {
		c.add(field, "required", "required", label+" fehlt.")
		return false
	}
	if !slices.Contains(allowed, v) {
		c.add(field, "choice", "must be one of "+strings.Join(allowed, ", "), label+": bitte einen der angebotenen Werte wählen.")
		return false
	}
	return true
}

func (c *checker) optionalText(field, v, label string) {
	if len(v) > 200 {
		c.add(field, "too-long", "longer than 200 bytes", label+" ist zu lang.")
	}
}

// idDocument checks an identity document; full asks for all the data BMG §3(1) Nr. 17 stores
// (authority, date of issue, validity), else kind and number are enough (Meldebescheinigung).
func (c *checker) idDocument(field string, d IDDocument, full bool) {
	if !slices.Contains(IDDocumentKinds, d.Kind) {
		c.add(field+".kind", "id-document", "kind must be one of "+strings.Join(IDDocumentKinds, ", "), "Art des Ausweises angeben.")
	}
	c.required(field+".number", d.Number, "Ausweisnummer")
	if !full && d.Authority == "" && d.Issued == "" && d.ValidUntil == "" {
		return
	}
	c.required(field+".authority", d.Authority, "Ausstellende Behörde")
	issued, issuedOK := c.date(field+".issued", d.Issued, "Ausstellungsdatum")
	if valid, ok := c.date(field+".valid_until", d.ValidUntil, "Gültig bis"); ok && issuedOK && !valid.After(issued) {
		c.add(field+".valid_until", "validity", "valid_until not after issued", "„Gültig bis“ muss nach dem Ausstellungsdatum liegen.")
	}
}

func (c *checker) coMover(field string, m CoMover) {
	c.oneOf(field+".relation", m.Relation, Relations, "Beziehung zur anmeldenden Person")
	c.required(field+".family_name", m.FamilyName, "Familienname")
	c.required(field+".given_names", m.GivenNames, "Vorname")
	c.date(field+".birth_date", m.BirthDate, "Geburtsdatum")
	c.required(field+".birth_place", m.BirthPlace, "Geburtsort")
	if c.required(field+".nationality", m.Nationality, "Staatsangehörigkeit") && !alpha3RE.MatchString(m.Nationality) {
		c.add(field+".nationality", "nationality", "not an ISO 3166-1 alpha-3 code", "Staatsangehörigkeit als dreistelliger Ländercode angeben (z. B. DEU).")
	}
	c.meldeschein(field, m.Meldeschein, true)
}
