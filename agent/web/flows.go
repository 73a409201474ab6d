package web

import (
	"fmt"

	"koffer/agent/cases"
)

// The four services as guided steps. This is presentation: which step shows which fields in
// which order, with German labels, and for each field the case-file path it fills (the names of
// docs/case-file.md), so the agent needs no mapping of its own. Whether values are valid is
// decided by the Backend (agent/cases, the same rules as `koffer case submit`).

// Step kinds.
const (
	KindForm      = "form"      // fields only
	KindPhoto     = "photo"     // photo code or photo taken by the authority
	KindFingers   = "fingers"   // fingerprint procedure
	KindSignature = "signature" // signature pad
	KindScan      = "scan"      // scan a document, then confirm
	KindPrint     = "print"     // print a document, then confirm
	KindFee       = "fee"       // fee from the fee table, payment
	KindSummary   = "summary"   // check, print, seal
)

// Flow is a service's steps.
type Flow struct {
	Service Service
	Title   string
	Short   string // one line for the start page
	Steps   []Step
	Final   string // the document printed at the end
	FinalT  string // its German name
}

// Step is one guided step.
type Step struct {
	Name   string
	Title  string
	Kind   string
	Intro  string
	Fields []FieldDef
	Part   string // KindScan/KindPhoto: the scan part
	Doc    string // KindPrint: the document
	DocT   string
}

// FieldDef is one input.
type FieldDef struct {
	Name string // the form field's name
	// Path is the case-file path the value fills (e.g. "person.birth_date"); the value is sent
	// in the case file's form (dates as YYYY-MM-DD). UIOnly fields fill none: they steer the
	// page and stay in the draft.
	Path     string
	UIOnly   bool
	Label    string
	Type     string // text, date, select, checkbox, radio, textarea, number
	Options  []Option
	Required bool
	Hint     string
	Auto     string // autocomplete attribute
	Mode     string // inputmode
}

// Option is a choice of a select or radio field.
type Option struct{ Value, Label string }

var personFields = []FieldDef{
	{Name: "familienname", Path: "person.family_name", Label: "Familienname", Type: "text", Required: true, Auto: "off"},
	{Name: "vornamen", Path: "person.given_names", Label: "Vornamen", Type: "text", Required: true, Auto: "off"},
	{Name: "geburtsdatum", Path: "person.birth_date", Label: "Geburtsdatum", Type: "date", Required: true, Hint: "TT.MM.JJJJ"},
	{Name: "geburtsort", Path: "person.birth_place", Label: "Geburtsort", Type: "text", Required: true, Auto: "off"},
	{Name: "staatsangehoerigkeit", Path: "person.nationality", Label: "Staatsangehörigkeit (Ländercode)", Type: "text", Required: true, Auto: "off", Hint: "Drei Buchstaben, z. B. DEU"},
}

func addressFields(prefix, path, what string, required bool) []FieldDef {
	return []FieldDef{
		{Name: prefix + "strasse", Path: path + ".street", Label: what + ": Straße", Type: "text", Required: required, Auto: "off"},
		{Name: prefix + "hausnummer", Path: path + ".house_number", Label: what + ": Hausnummer", Type: "text", Required: required, Auto: "off"},
		{Name: prefix + "plz", Path: path + ".postal_code", Label: what + ": Postleitzahl", Type: "text", Required: required, Mode: "numeric", Auto: "off"},
		{Name: prefix + "ort", Path: path + ".city", Label: what + ": Ort", Type: "text", Required: required, Auto: "off"},
	}
}

func concat(parts ...[]FieldDef) []FieldDef {
	var out []FieldDef
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var yesNo = []Option{{"ja", "Ja"}}

// waiverMark and waiverReason: a person who cannot sign gets the mark and the reason instead of
// a signature; the case seals with the waiver recorded.
var waiverMark = FieldDef{Name: "unterschrift_verzicht", UIOnly: true, Label: "Person kann nicht unterschreiben", Type: "checkbox"}

var waiverReason = FieldDef{Name: "unterschrift_verzicht_grund", Path: "details.signature_waiver.reason",
	Label: "Grund, warum die Person nicht unterschreiben kann", Type: "text", Auto: "off",
	Hint: "Nur ausfüllen, wenn „Person kann nicht unterschreiben“ angekreuzt ist."}

// The Meldeschein of a Wohnsitzanmeldung (agent/cases/meldeschein.go, BMG §3(1)): the values
// and their German labels are agent/cases', so form and paper agree.
var (
	sexOptions      = choices("Bitte wählen", cases.Sexes, cases.SexLabels)
	maritalOptions  = choices("Bitte wählen", cases.MaritalStatuses, cases.MaritalLabels)
	religionOptions = choices("keine oder keine Angabe", cases.Religions, cases.ReligionLabels)
	idKindOptions   = choices("Bitte wählen", cases.IDDocumentKinds, cases.IDDocumentLabels)
	relationOptions = choices("Bitte wählen", cases.Relations, cases.RelationLabels)
	dwellingOptions = []Option{{"sole", "Alleinige Wohnung"}, {"main", "Hauptwohnung (weitere Wohnung vorhanden)"},
		{"secondary", "Nebenwohnung (weitere Wohnung vorhanden)"}}
)

// choices offers values with their labels after an empty first choice.
func choices(none string, values []string, labels map[string]string) []Option {
	out := []Option{{"", none}}
	for _, v := range values {
		out = append(out, Option{v, labels[v]})
	}
	return out
}

// meldescheinFields are one person's Meldeschein data beyond name and birth.
func meldescheinFields(prefix, path string) []FieldDef {
	required := prefix == "" // a co-mover's slot may stay empty; the rules check a filled one
	return []FieldDef{
		{Name: prefix + "geburtsname", Path: path + ".birth_name", Label: "Geburtsname", Type: "text", Auto: "off", Hint: "Nur wenn abweichend vom Familiennamen."},
		{Name: prefix + "doktorgrad", Path: path + ".doctor_title", Label: "Doktorgrad", Type: "text", Auto: "off", Hint: "Nur wenn vorhanden, z. B. Dr."},
		{Name: prefix + "geschlecht", Path: path + ".sex", Label: "Geschlecht", Type: "select", Required: required, Options: sexOptions},
		{Name: prefix + "familienstand", Path: path + ".marital_status", Label: "Familienstand", Type: "select", Required: required, Options: maritalOptions},
		{Name: prefix + "religion", Path: path + ".religion", Label: "Religionszugehörigkeit (freiwillig, für die Kirchensteuer)", Type: "select", Options: religionOptions},
		{Name: prefix + "weitere_staatsangehoerigkeiten", Path: path + ".other_nationalities", Label: "Weitere Staatsangehörigkeiten", Type: "text", Auto: "off",
			Hint: "Ländercodes mit Komma getrennt, z. B. POL, UKR. Leer lassen, wenn keine."},
	}
}

// idDocumentFields are the identity document shown (BMG §3(1) Nr. 17, §23(1)).
func idDocumentFields(prefix, path string, required bool) []FieldDef {
	return []FieldDef{
		{Name: prefix + "ausweisart", Path: path + ".kind", Label: "Vorgelegtes Ausweisdokument", Type: "select", Required: required, Options: idKindOptions},
		{Name: prefix + "ausweisnummer", Path: path + ".number", Label: "Ausweisnummer", Type: "text", Auto: "off"},
		{Name: prefix + "ausweisbehoerde", Path: path + ".authority", Label: "Ausstellende Behörde", Type: "text", Auto: "off"},
		{Name: prefix + "ausweis_ausgestellt", Path: path + ".issued", Label: "Ausgestellt am", Type: "date", Hint: "TT.MM.JJJJ"},
		{Name: prefix + "ausweis_gueltig", Path: path + ".valid_until", Label: "Gültig bis", Type: "date", Hint: "TT.MM.JJJJ"},
	}
}

func dwellingField(name, path string, required bool) FieldDef {
	return FieldDef{Name: name, Path: path, Label: "Die neue Wohnung ist", Type: "radio", Required: required, Options: dwellingOptions}
}

func countryField(name, path, what string) FieldDef {
	return FieldDef{Name: name, Path: path, Label: what + ": Staat, wenn im Ausland", Type: "text", Auto: "off",
		Hint: "Ländercode, z. B. AUT. Leer lassen für Deutschland; im Ausland ist die Postleitzahl frei."}
}

// coMoverFields are the slot of the i-th family member moving in together.
func coMoverFields(i int) []FieldDef {
	prefix := fmt.Sprintf("mit%d_", i+1)
	path := fmt.Sprintf("details.co_movers[%d]", i)
	what := fmt.Sprintf("Person %d", i+1)
	fields := []FieldDef{
		{Name: prefix + "beziehung", Path: path + ".relation", Label: what + ": Beziehung zur anmeldenden Person", Type: "select", Options: relationOptions},
		{Name: prefix + "familienname", Path: path + ".family_name", Label: what + ": Familienname", Type: "text", Auto: "off"},
		{Name: prefix + "vornamen", Path: path + ".given_names", Label: what + ": Vornamen", Type: "text", Auto: "off"},
		{Name: prefix + "geburtsdatum", Path: path + ".birth_date", Label: what + ": Geburtsdatum", Type: "date", Hint: "TT.MM.JJJJ"},
		{Name: prefix + "geburtsort", Path: path + ".birth_place", Label: what + ": Geburtsort", Type: "text", Auto: "off"},
		{Name: prefix + "staatsangehoerigkeit", Path: path + ".nationality", Label: what + ": Staatsangehörigkeit (Ländercode)", Type: "text", Auto: "off"},
	}
	for _, fd := range concat(meldescheinFields(prefix, path), idDocumentFields(prefix, path+".id_documents[0]", false)) {
		fd.Label = what + ": " + fd.Label
		fields = append(fields, fd)
	}
	// No dwelling kind per co-mover: theirs is the registering person's (agent/cases CoMover).
	return fields
}

// Flows lists the services in the order the start page shows them.
var Flows = []Flow{
	{
		Service: Personalausweis, Title: "Personalausweis beantragen",
		Short: "Daten, Lichtbild, Fingerabdrücke, Unterschrift, Gebühr",
		Final: DocReceipt, FinalT: "Antragsquittung",
		Steps: []Step{
			{Name: "person", Title: "Angaben zur Person", Kind: KindForm,
				Intro: "Bitte mit der Person prüfen.",
				Fields: concat(personFields, []FieldDef{
					{Name: "groesse", Path: "details.height_cm", Label: "Größe in cm", Type: "number", Required: true, Mode: "numeric"},
					{Name: "augenfarbe", Path: "details.eye_color", Label: "Augenfarbe", Type: "select", Required: true, Options: []Option{
						{"", "Bitte wählen"}, {"blau", "blau"}, {"braun", "braun"}, {"gruen", "grün"},
						{"grau", "grau"}, {"andere", "andere"}}},
				}, addressFields("", "person.address", "Anschrift", true))},
			{Name: "foto", Title: "Lichtbild", Kind: KindPhoto, Part: "foto",
				Intro: "Lichtbild per Code vom Fotografen oder Aufnahme durch die Behörde mit der Kamera des Laptops.",
				Fields: []FieldDef{
					{Name: "lichtbild_art", Path: "details.photo_source", Label: "Herkunft des Lichtbilds", Type: "radio", Required: true, Options: []Option{
						{cases.PhotoPhotographer, "Code vom Fotografen (DataMatrix)"}, {cases.PhotoAuthority, "Aufnahme durch die Behörde"}}},
					{Name: "lichtbild_code", Path: "details.photo_code", Label: "Inhalt des Lichtbild-Codes", Type: "textarea",
						Hint: "Code scannen oder abtippen. Ohne Netz wird er versiegelt und im Rathaus abgerufen."},
				}},
			{Name: "finger", Title: "Fingerabdrücke", Kind: KindFingers}, // instructions: cases.FingerprintInstruction
			{Name: "unterschrift", Title: "Unterschrift", Kind: KindSignature,
				Intro: "Die Person unterschreibt im Feld mit dem Finger oder einem Stift.",
				Fields: []FieldDef{
					waiverMark,
					waiverReason,
				}},
			{Name: "gebuehr", Title: "Gebühr", Kind: KindFee,
				Fields: []FieldDef{
					{Name: "zahlart", Path: "details.payment", Label: "Zahlungsart", Type: "radio", Required: true, Options: paymentOptions()},
				}},
			{Name: "abschluss", Title: "Prüfen und abschließen", Kind: KindSummary},
		},
	},
	{
		Service: Lebensbescheinigung, Title: "Lebensbescheinigung",
		Short: "Formular der Rentenkasse scannen, Bestätigung drucken",
		Final: DocConfirmation, FinalT: "Bestätigung der Lebensbescheinigung",
		Steps: []Step{
			{Name: "person", Title: "Angaben zur Person", Kind: KindForm,
				Fields: concat(personFields, addressFields("", "person.address", "Anschrift", true), []FieldDef{
					{Name: "versicherer", Path: "details.insurer", Label: "Rentenversicherung oder Kasse", Type: "text", Required: true, Auto: "off"},
					{Name: "aktenzeichen", Path: "details.reference", Label: "Aktenzeichen der Kasse", Type: "text", Required: true, Auto: "off"},
				})},
			{Name: "formular", Title: "Formular der Kasse", Kind: KindScan, Part: "formular",
				Intro: "Die Person unterschreibt das Formular der Kasse vor Ihnen. Dann das Formular scannen.",
				Fields: []FieldDef{
					{Name: "persoenlich_unterschrieben", Path: "details.confirmations.signed_in_presence", Label: "Die Person hat in meiner Gegenwart unterschrieben", Type: "checkbox", Required: true, Options: yesNo},
					{Name: "identitaet_geprueft", Path: "details.confirmations.identity_checked", Label: "Identität anhand eines Ausweises geprüft", Type: "checkbox", Required: true, Options: yesNo},
				}},
			{Name: "abschluss", Title: "Prüfen und abschließen", Kind: KindSummary},
		},
	},
	{
		Service: Meldebescheinigung, Title: "Meldebescheinigung",
		Short: "Aus dem Registerauszug des Besuchspakets drucken",
		Final: DocRegister, FinalT: "Meldebescheinigung",
		Steps: []Step{
			{Name: "person", Title: "Angaben zur Person", Kind: KindForm,
				Intro:  "Bitte mit dem Ausweis abgleichen.",
				Fields: concat(personFields, addressFields("", "person.address", "Anschrift", true))},
			{Name: "auszug", Title: "Registerauszug und Ausweis", Kind: KindForm,
				Intro: "Der Auszug kommt aus dem Besuchspaket des Rathauses.",
				Fields: []FieldDef{
					{Name: "art", Path: "details.extended", Label: "Art der Bescheinigung", Type: "radio", Required: true, Options: []Option{
						{"simple", "Einfache Meldebescheinigung"}, {"extended", "Erweiterte Meldebescheinigung"}}},
					{Name: "ausweisart", Path: "details.id_document.kind", Label: "Vorgelegter Ausweis", Type: "select", Required: true, Options: idKindOptions},
					{Name: "ausweisnummer", Path: "details.id_document.number", Label: "Ausweisnummer", Type: "text", Required: true, Auto: "off"},
				}},
			{Name: "abschluss", Title: "Prüfen und abschließen", Kind: KindSummary},
		},
	},
	{
		Service: Wohnsitzanmeldung, Title: "Wohnsitz anmelden",
		Short: "Adressen, Wohnungsgeberbestätigung scannen, Formular unterschreiben",
		Final: DocRegistration, FinalT: "Meldebestätigung",
		Steps: []Step{
			{Name: "person", Title: "Angaben zur Person", Kind: KindForm,
				Intro: "Angaben für den Meldeschein (§ 23 Bundesmeldegesetz). Bitte mit dem Ausweis abgleichen.",
				Fields: concat(personFields, meldescheinFields("", "details.meldeschein"),
					idDocumentFields("", "details.meldeschein.id_documents[0]", true))},
			{Name: "adresse", Title: "Neue und bisherige Anschrift", Kind: KindForm,
				Intro: "Anmeldung innerhalb von zwei Wochen nach dem Einzug. Eine spätere Anmeldung wird vermerkt.",
				Fields: concat(addressFields("neu_", "person.address", "Neue Anschrift", true),
					[]FieldDef{
						{Name: "einzug", Path: "details.move_in_date", Label: "Einzugsdatum", Type: "date", Required: true, Hint: "TT.MM.JJJJ"},
						dwellingField("wohnung", "details.meldeschein.dwelling", true),
					},
					addressFields("alt_", "details.previous_address", "Bisherige Anschrift", false),
					[]FieldDef{countryField("alt_staat", "details.previous_address.country", "Bisherige Anschrift")},
					addressFields("weitere_", "details.meldeschein.other_residences[0]", "Weitere Wohnung", false),
					[]FieldDef{countryField("weitere_staat", "details.meldeschein.other_residences[0].country", "Weitere Wohnung")})},
			{Name: "familie", Title: "Mitziehende Familienangehörige", Kind: KindForm,
				Intro:  "Nur ausfüllen, wenn Familienangehörige mit einziehen: sie werden auf demselben Meldeschein angemeldet (§ 23 BMG). Sonst weiter.",
				Fields: concat(coMoverFields(0), coMoverFields(1))},
			{Name: "vermieter", Title: "Wohnungsgeberbestätigung", Kind: KindScan, Part: "vermieter",
				Intro: "Die Bestätigung des Wohnungsgebers muss vorliegen. Bitte einlegen und scannen.",
				Fields: []FieldDef{
					{Name: "vermieter_geprueft", Path: "details.confirmations.landlord_confirmation_present", Label: "Bestätigung liegt vor und ist unterschrieben", Type: "checkbox", Required: true, Options: yesNo},
				}},
			{Name: "formular", Title: "Anmeldeformular unterschreiben", Kind: KindPrint, Doc: DocForm, DocT: "Anmeldeformular",
				Intro: "Formular drucken und von der Person unterschreiben lassen.",
				Fields: []FieldDef{
					{Name: "formular_unterschrieben", Path: "details.confirmations.form_signed", Label: "Die Person hat das Formular unterschrieben", Type: "checkbox", Required: true, Options: yesNo},
				}},
			{Name: "unterschrift", Title: "Unterschrift", Kind: KindSignature,
				Intro: "Die Person unterschreibt zusätzlich im Feld; die Unterschrift geht mit der Anmeldung ins Rathaus.",
				Fields: []FieldDef{
					waiverMark,
					waiverReason,
				}},
			{Name: "abschluss", Title: "Prüfen und abschließen", Kind: KindSummary},
		},
	},
}

// FlowOf returns the flow of a service.
func FlowOf(s Service) (Flow, bool) {
	for _, f := range Flows {
		if f.Service == s {
			return f, true
		}
	}
	return Flow{}, false
}

// VisitOnly reports whether the service starts from a booked visit only (cases.VisitOnly);
// the start page offers it there and not under "Neuer Vorgang ohne Termin".
func (f Flow) VisitOnly() bool { return cases.VisitOnly(f.Service) }

// StepIndex returns the position of a step in the flow, -1 if unknown.
func (f Flow) StepIndex(name string) int {
	for i, s := range f.Steps {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// NextStep is the step after name ("" after the last).
func (f Flow) NextStep(name string) string {
	i := f.StepIndex(name)
	if i < 0 || i+1 >= len(f.Steps) {
		return ""
	}
	return f.Steps[i+1].Name
}

// PrevStep is the step before name ("" before the first).
func (f Flow) PrevStep(name string) string {
	i := f.StepIndex(name)
	if i <= 0 {
		return ""
	}
	return f.Steps[i-1].Name
}

// FieldLabel finds the German label of a field anywhere in the flow.
func (f Flow) FieldLabel(name string) string {
	for _, s := range f.Steps {
		for _, fd := range s.Fields {
			if fd.Name == name {
				return fd.Label
			}
		}
	}
	return name
}

// Key is the field's key in Case.Values: its case-file path, or its name when it is UI-only.
func (fd FieldDef) Key() string {
	if fd.UIOnly {
		return fd.Name
	}
	return fd.Path
}

// FieldByPath finds the field that fills a case-file path on a step.
func (s Step) FieldByPath(path string) (FieldDef, bool) {
	for _, fd := range s.Fields {
		if !fd.UIOnly && fd.Path == path {
			return fd, true
		}
	}
	return FieldDef{}, false
}

// paymentOptions offers the payment methods of agent/cases with their labels.
func paymentOptions() []Option {
	var out []Option
	for _, m := range cases.PaymentMethods {
		out = append(out, Option{m, cases.PaymentLabels[m]})
	}
	return out
}
