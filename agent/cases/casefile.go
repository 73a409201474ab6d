package cases

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// File is the case file contract (docs/case-file.md): a complete case as JSON, used by
// `koffer case submit` and by tests, and the shape the UI's steps add up to.
type File struct {
	Service     Service      `json:"service"`
	Person      Person       `json:"person"`
	Details     Details      `json:"details"`
	Attachments []Attachment `json:"attachments"`
}

// Person is the citizen.
type Person struct {
	FamilyName  string  `json:"family_name"`
	GivenNames  string  `json:"given_names"`
	BirthDate   string  `json:"birth_date"` // YYYY-MM-DD
	BirthPlace  string  `json:"birth_place"`
	Nationality string  `json:"nationality"` // ISO 3166-1 alpha-3
	Address     Address `json:"address"`
}

// Address is a German postal address.
type Address struct {
	Street      string `json:"street"`
	HouseNumber string `json:"house_number"`
	PostalCode  string `json:"postal_code"`
	City        string `json:"city"`
	// Country is ISO 3166-1 alpha-3; empty means Germany. Only a previous address or another
	// residence may be abroad (BMG §3(1) Nr. 12: on moving in from abroad, the state); there
	// no five-digit postcode is asked and the house number may be part of the street.
	Country string `json:"country,omitempty"`
}

// Abroad reports whether the address is outside Germany.
func (a Address) Abroad() bool { return a.Country != "" && a.Country != "DEU" }

// Details are the service-specific fields; each service allows only its own.
type Details struct {
	// personalausweis
	HeightCM               int    `json:"height_cm,omitempty"`
	EyeColor               string `json:"eye_color,omitempty"`
	PhotoCode              string `json:"photo_code,omitempty"` // DataMatrix content from a certified photographer
	Provisional            bool   `json:"provisional,omitempty"`
	FingerprintsImpossible bool   `json:"fingerprints_impossible,omitempty"`
	// PhotoSource is PhotoPhotographer (photo_code) or PhotoAuthority (a photo attachment
	// taken on site); the kit fills it in when it is left empty.
	PhotoSource  string   `json:"photo_source,omitempty"`
	Payment      string   `json:"payment,omitempty"`             // one of PaymentMethods
	Fingerprints *Capture `json:"fingerprint_capture,omitempty"` // every attempt and decision

	// lebensbescheinigung
	Insurer   string `json:"insurer,omitempty"`
	Reference string `json:"reference,omitempty"`

	// meldebescheinigung
	Extended bool `json:"extended,omitempty"`

	// wohnsitzanmeldung
	MoveInDate      string   `json:"move_in_date,omitempty"` // YYYY-MM-DD
	PreviousAddress *Address `json:"previous_address,omitempty"`
	// Meldeschein is the registering person's registration data (meldeschein.go); CoMovers
	// the family members moving in together, each with their own.
	Meldeschein *Meldeschein `json:"meldeschein,omitempty"`
	CoMovers    []CoMover    `json:"co_movers,omitempty"`

	// any service with a signature (SignatureRules)
	SignatureWaiver *Waiver `json:"signature_waiver,omitempty"`
	// Confirmations the caseworker gave on the spot (Confirmations lists them per service).
	Confirmations []string `json:"confirmations,omitempty"`
	// meldebescheinigung: the identity document the person showed
	IDDocument *IDDocument `json:"id_document,omitempty"`
}

// Waiver records that the person cannot sign, and why (e.g. "kann wegen Lähmung nicht schreiben").
type Waiver struct {
	Reason string `json:"reason"`
}

// IDDocument is an identity document the caseworker saw. The Meldeschein stores all of it
// (BMG §3(1) Nr. 17); the Meldebescheinigung needs kind and number only.
type IDDocument struct {
	Kind       string `json:"kind"` // one of IDDocumentKinds
	Number     string `json:"number"`
	Authority  string `json:"authority,omitempty"`   // Ausstellungsbehörde
	Issued     string `json:"issued,omitempty"`      // YYYY-MM-DD
	ValidUntil string `json:"valid_until,omitempty"` // YYYY-MM-DD, the last day of validity
}

// Attachment names a file next to the case file.
type Attachment struct {
	Kind     string `json:"kind"` // scan | fingerprint | signature | photo
	File     string `json:"file"` // relative to the case file
	Finger   string `json:"finger,omitempty"`
	Attempts int    `json:"attempts,omitempty"` // fingerprint capture attempts, 1..3
	Quality  *int   `json:"quality,omitempty"`  // score 0..100 of the kept attempt, if measured
	Method   string `json:"method,omitempty"`   // how Quality was scored: nfiq2 or estimate
	// ByOperator: the caseworker kept it below the threshold or on an estimate.
	ByOperator bool `json:"by_operator,omitempty"`
}

// Attachment kinds.
const (
	KindScan        = "scan"
	KindFingerprint = "fingerprint"
	KindSignature   = "signature"
	KindPhoto       = "photo"
)

// MaxFileSize bounds a case file; MaxAttachmentSize one attachment.
const (
	MaxFileSize       = 1 << 20
	MaxAttachmentSize = 32 << 20
)

// Problem is one thing wrong with a case, naming the field (JSON path) it is about.
type Problem struct {
	Field   string `json:"field"`
	Code    string `json:"code"`    // stable, e.g. "required", "little-finger"
	Message string `json:"message"` // English, for logs and technicians; no personal data
	Hint    string `json:"hint"`    // German, for the caseworker
}

func (p Problem) String() string {
	if p.Field == "" {
		return "case file: " + p.Message
	}
	return p.Field + ": " + p.Message
}

// ValidationError lists every problem found. Its text holds field names and rules only, never
// the values, so it may be logged.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid case: " + strings.Join(parts, "; ")
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Parse decodes a case file strictly: UTF-8 JSON without a byte order mark, one object, no
// unknown fields, no field given twice. It checks the
// shape only; Validate checks the rules.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, &ValidationError{[]Problem{{Field: "", Code: "too-large",
			Message: fmt.Sprintf("case file larger than %d bytes", MaxFileSize),
			Hint:    "Die Falldatei ist zu groß."}}}
	}
	if !utf8.Valid(data) {
		return nil, &ValidationError{[]Problem{{Field: "", Code: "encoding",
			Message: "case file is not UTF-8", Hint: "Die Falldatei ist nicht UTF-8-kodiert."}}}
	}
	if bytes.HasPrefix(data, utf8BOM) {
		return nil, &ValidationError{[]Problem{{Field: "", Code: "bom",
			Message: "case file starts with a UTF-8 byte order mark; save it as UTF-8 without BOM",
			Hint:    "Die Falldatei beginnt mit einer Byte-Order-Markierung (BOM). Bitte als UTF-8 ohne BOM speichern."}}}
	}
	if field, ok := duplicateKey(data); ok {
		return nil, &ValidationError{[]Problem{{Field: field, Code: "duplicate-key",
			Message: "field given more than once", Hint: "Das Feld " + field + " ist mehrfach angegeben."}}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, &ValidationError{[]Problem{jsonProblem(err)}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ValidationError{[]Problem{{Field: "", Code: "trailing-data",
			Message: "data after the case object", Hint: "Die Falldatei enthält mehr als einen Fall."}}}
	}
	return &f, nil
}

func jsonProblem(err error) Problem {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return Problem{Field: te.Field, Code: "type", Message: "wrong type, want " + te.Type.String(),
			Hint: "Feld " + te.Field + " hat den falschen Typ."}
	case errors.As(err, &se):
		return Problem{Code: "syntax", Message: fmt.Sprintf("malformed JSON at byte %d", se.Offset),
			Hint: "Die Falldatei ist kein gültiges JSON."}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Problem{Field: field, Code: "unknown-field", Message: "unknown field",
			Hint: "Unbekanntes Feld " + field + "."}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Problem{Code: "syntax", Message: "case file empty or cut off",
			Hint: "Die Falldatei ist leer oder unvollständig."}
	}
	return Problem{Code: "syntax", Message: "malformed JSON", Hint: "Die Falldatei ist kein gültiges JSON."}
}

// Assessment is what the rules conclude about a valid case.
type Assessment struct {
	Age  int
	Late bool // registration after the 14-day deadline: flagged, not refused
	Fee  Fee
}

var (
	dateRE   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	alpha3RE = regexp.MustCompile(`^[A-Z]{3}$`)
	plzRE    = regexp.MustCompile(`^\d{5}$`)
	fileRE   = regexp.MustCompile(`^[^\x00]+$`)
)

type checker struct{ ps []Problem }

func (c *checker) add(field, code, msg, hint string) {
	c.ps = append(c.ps, Problem{Field: field, Code: code, Message: msg, Hint: hint})
}

func (c *checker) required(field, v, label string) bool {
	if strings.TrimSpace(v) == "" {
		c.add(field, "required", "required", label+" fehlt.")
		return false
	}
	if len(v) > 200 {
		c.add(field, "too-long", "longer than 200 bytes", label+" ist zu lang.")
		return false
	}
	return true
}

func (c *checker) date(field, v, label string) (time.Time, bool) {
	if !c.required(field, v, label) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, v)
	if !dateRE.MatchString(v) || err != nil {
		c.add(field, "date", "not a date YYYY-MM-DD", label+" ist kein gültiges Datum (JJJJ-MM-TT).")
		return time.Time{}, false
	}
	return t, true
}

func (c *checker) address(field string, a Address) {
	c.required(field+".street", a.Street, "Straße")
	c.required(field+".city", a.City, "Ort")
	if a.Abroad() {
		if !alpha3RE.MatchString(a.Country) {
			c.add(field+".country", "country", "not an ISO 3166-1 alpha-3 code", "Staat als dreistelligen Ländercode angeben (z. B. AUT).")
		}
		c.optionalText(field+".postal_code", a.PostalCode, "Postleitzahl")
		c.optionalText(field+".house_number", a.HouseNumber, "Hausnummer")
		return
	}
	c.required(field+".house_number", a.HouseNumber, "Hausnummer")
	if c.required(field+".postal_code", a.PostalCode, "Postleitzahl") && !plzRE.MatchString(a.PostalCode) {
		c.add(field+".postal_code", "postal-code", "not a five-digit German postal code", "Die Postleitzahl muss fünf Ziffern haben.")
	}
}

// Validate checks f against the rules of its service on day now (the application date) and
// returns the assessment, or a *ValidationError listing every problem.
func (f *File) Validate(now time.Time) (Assessment, error) {
	var c checker
	var a Assessment
	if !f.Service.Valid() {
		if f.Service == "" {
			c.add("service", "required", "required", "Die Dienstleistung fehlt.")
		} else {
			c.add("service", "unknown-service", "unknown service, want one of personalausweis, lebensbescheinigung, meldebescheinigung, wohnsitzanmeldung",
				"Unbekannte Dienstleistung.")
		}
		return a, &ValidationError{c.ps}
	}
	p := f.Person
	c.required("person.family_name", p.FamilyName, "Familienname")
	c.required("person.given_names", p.GivenNames, "Vorname")
	birth, birthOK := c.date("person.birth_date", p.BirthDate, "Geburtsdatum")
	if birthOK {
		if birth.After(dateOnly(now)) {
			c.add("person.birth_date", "future", "in the future", "Das Geburtsdatum liegt in der Zukunft.")
		} else if Age(birth, now) > 130 {
			c.add("person.birth_date", "implausible", "more than 130 years ago", "Das Geburtsdatum ist nicht plausibel.")
		}
		a.Age = Age(birth, now)
	}
	c.required("person.birth_place", p.BirthPlace, "Geburtsort")
	if c.required("person.nationality", p.Nationality, "Staatsangehörigkeit") && !alpha3RE.MatchString(p.Nationality) {
		c.add("person.nationality", "nationality", "not an ISO 3166-1 alpha-3 code", "Staatsangehörigkeit als dreistelliger Ländercode angeben (z. B. DEU).")
	}
	c.address("person.address", p.Address)
	if p.Address.Abroad() {
		c.add("person.address.country", "abroad", "the person's address is in Germany; only a previous address may be abroad",
			"Die Anschrift muss in Deutschland liegen; eine Anschrift im Ausland nur als bisherige Anschrift angeben.")
	}

	f.checkDetails(&c, now, birthOK, &a)
	f.checkAttachments(&c, birthOK, a.Age)

	if len(c.ps) > 0 {
		return a, &ValidationError{c.ps}
	}
	a.Fee = ServiceFee(f.Service, now, a.Age, f.Details.Provisional)
	return a, nil
}

func (f *File) checkDetails(c *checker, now time.Time, birthOK bool, a *Assessment) {
	d := f.Details
	notFor := func(field string, set bool) {
		if set {
			c.add("details."+field, "not-for-service", "not a field of "+string(f.Service),
				"Das Feld "+field+" gehört nicht zu dieser Dienstleistung.")
		}
	}
	if f.Service != Personalausweis {
		notFor("height_cm", d.HeightCM != 0)
		notFor("eye_color", d.EyeColor != "")
		notFor("photo_code", d.PhotoCode != "")
		notFor("provisional", d.Provisional)
		notFor("fingerprints_impossible", d.FingerprintsImpossible)
		notFor("photo_source", d.PhotoSource != "")
		notFor("fingerprint_capture", d.Fingerprints != nil)
	}
	if !slices.ContainsFunc(SignatureRules, func(r SignatureRule) bool { return r.Service == f.Service }) {
		notFor("signature_waiver", d.SignatureWaiver != nil)
	}
	if f.Service != Meldebescheinigung {
		notFor("id_document", d.IDDocument != nil)
	}
	if d.Payment != "" && !slices.Contains(PaymentMethods, d.Payment) {
		c.add("details.payment", "payment", "payment must be one of "+strings.Join(PaymentMethods, ", "), "Unbekannte Zahlungsart.")
	}
	if d.SignatureWaiver != nil {
		c.required("details.signature_waiver.reason", d.SignatureWaiver.Reason, "Der Grund, warum die Person nicht unterschreiben kann,")
	}
	for i, cf := range d.Confirmations {
		if !slices.Contains(Confirmations[f.Service], cf) {
			c.add(fmt.Sprintf("details.confirmations[%d]", i), "confirmation", "not a confirmation of "+string(f.Service), "Unbekannte Bestätigung.")
		}
	}
	if id := d.IDDocument; id != nil {
		c.idDocument("details.id_document", *id, false)
	}
	if d.Fingerprints != nil {
		d.Fingerprints.check(c)
	}
	if f.Service != Lebensbescheinigung {
		notFor("insurer", d.Insurer != "")
		notFor("reference", d.Reference != "")
	}
	if f.Service != Meldebescheinigung {
		notFor("extended", d.Extended)
	}
	if f.Service != Wohnsitzanmeldung {
		notFor("move_in_date", d.MoveInDate != "")
		notFor("previous_address", d.PreviousAddress != nil)
		notFor("meldeschein", d.Meldeschein != nil)
		notFor("co_movers", len(d.CoMovers) > 0)
	}

	switch f.Service {
	case Personalausweis:
		if f.Person.Nationality != "" && f.Person.Nationality != "DEU" {
			c.add("person.nationality", "not-german", "identity cards are issued to Germans only (PAuswG §1)",
				"Einen Personalausweis erhalten nur Deutsche.")
		}
		if d.HeightCM < 40 || d.HeightCM > 250 {
			c.add("details.height_cm", "height", "height_cm missing or outside 40..250", "Größe in Zentimetern angeben.")
		}
		c.required("details.eye_color", d.EyeColor, "Augenfarbe")
		photos := 0
		for _, at := range f.Attachments {
			if at.Kind == KindPhoto {
				photos++
			}
		}
		switch {
		case d.PhotoCode != "" && photos > 0:
			c.add("details.photo_code", "two-photos", "photo_code and a photo attachment both given", "Entweder Foto aufnehmen oder Foto-Code scannen, nicht beides.")
		case d.PhotoCode == "" && photos == 0:
			c.add("attachments", "photo-missing", "a photo attachment or details.photo_code is required", "Ein Lichtbild fehlt: Foto aufnehmen oder Foto-Code scannen.")
		case photos > 1:
			c.add("attachments", "two-photos", "more than one photo", "Nur ein Lichtbild ist erlaubt.")
		}
		switch d.PhotoSource {
		case "":
		case PhotoPhotographer:
			if d.PhotoCode == "" {
				c.add("details.photo_code", "required", "photo_source photographer needs photo_code", "Bitte den Code scannen oder abtippen.")
			}
		case PhotoAuthority:
			if d.PhotoCode != "" {
				c.add("details.photo_source", "photo-source", "photo_source authority with a photo_code",
					"Die Herkunft des Lichtbilds passt nicht zum erfassten Lichtbild.")
			}
		default:
			c.add("details.photo_source", "photo-source", "photo_source must be photographer or authority", "Unbekannte Herkunft des Lichtbilds.")
		}
	case Lebensbescheinigung:
		c.required("details.insurer", d.Insurer, "Rentenversicherungsträger")
		c.required("details.reference", d.Reference, "Aktenzeichen")
	case Wohnsitzanmeldung:
		if moved, ok := c.date("details.move_in_date", d.MoveInDate, "Einzugsdatum"); ok {
			if moved.After(dateOnly(now)) {
				c.add("details.move_in_date", "future", "move-in date in the future: register after moving in",
					"Die Anmeldung ist erst nach dem Einzug möglich.")
			}
			a.Late = RegistrationLate(moved, now)
		}
		if d.PreviousAddress != nil {
			c.address("details.previous_address", *d.PreviousAddress)
		}
		switch m := d.Meldeschein; {
		case m == nil:
			c.add("details.meldeschein", "required", "the Meldeschein is required (BMG §23(1))",
				"Die Angaben zum Meldeschein fehlen: Geschlecht, Familienstand, Ausweis und Art der Wohnung.")
		default:
			c.meldeschein("details.meldeschein", *m, false)
			if len(m.IDDocuments) == 0 {
				c.add("details.meldeschein.id_documents", "required", "the registering person shows an identity document (BMG §23(1))",
					"Bitte den vorgelegten Ausweis oder Pass erfassen.")
			}
		}
		if len(d.CoMovers) > MaxCoMovers {
			c.add("details.co_movers", "too-many", fmt.Sprintf("more than %d co-movers", MaxCoMovers),
				fmt.Sprintf("Höchstens %d mitziehende Personen je Meldeschein.", MaxCoMovers))
		}
		for i, m := range d.CoMovers {
			c.coMover(fmt.Sprintf("details.co_movers[%d]", i), m)
		}
	}
}

func (f *File) checkAttachments(c *checker, birthOK bool, age int) {
	counts := map[string]int{}
	hands := map[string]int{}
	for i, at := range f.Attachments {
		field := fmt.Sprintf("attachments[%d]", i)
		switch at.Kind {
		case KindScan, KindSignature, KindPhoto, KindFingerprint:
		case "":
			c.add(field+".kind", "required", "required", "Art der Anlage fehlt.")
			continue
		default:
			c.add(field+".kind", "unknown-kind", "unknown kind, want scan, fingerprint, signature or photo", "Unbekannte Art der Anlage.")
			continue
		}
		counts[at.Kind]++
		if c.required(field+".file", at.File, "Dateiname") {
			if clean := path.Clean(at.File); !fileRE.MatchString(at.File) || path.IsAbs(at.File) || clean == ".." || strings.HasPrefix(clean, "../") {
				c.add(field+".file", "path", "must be a path inside the case file's folder", "Die Anlage muss im Ordner der Falldatei liegen.")
			}
		}
		if at.Kind != KindFingerprint {
			if at.Finger != "" || at.Attempts != 0 || at.Quality != nil || at.Method != "" || at.ByOperator {
				c.add(field+".finger", "not-fingerprint", "finger, attempts and quality belong to fingerprints only", "Finger nur bei Fingerabdrücken angeben.")
			}
			continue
		}
		if f.Service != Personalausweis {
			c.add(field+".kind", "not-for-service", "fingerprints belong to personalausweis only", "Fingerabdrücke werden nur beim Personalausweis genommen.")
			continue
		}
		if birthOK && age < MinFingerprintAge {
			c.add(field, "too-young", fmt.Sprintf("no fingerprints from children under %d", MinFingerprintAge),
				fmt.Sprintf("Von Kindern unter %d Jahren werden keine Fingerabdrücke genommen.", MinFingerprintAge))
			continue
		}
		hand, _, little, ok := ParseFinger(at.Finger)
		switch {
		case at.Finger == "":
			c.add(field+".finger", "required", "required for fingerprints", "Finger fehlt.")
		case little:
			c.add(field+".finger", "little-finger", "little fingers are never taken", "Der kleine Finger darf nicht verwendet werden.")
		case !ok:
			c.add(field+".finger", "finger", "unknown finger, want e.g. right_index", "Unbekannter Finger.")
		default:
			hands[hand]++
			if hands[hand] == 2 {
				c.add(field+".finger", "two-per-hand", "one print per hand", "Pro Hand wird nur ein Finger genommen.")
			}
		}
		if at.Attempts < 0 || at.Attempts > MaxAttempts {
			c.add(field+".attempts", "attempts", fmt.Sprintf("attempts must be 1..%d", MaxAttempts),
				fmt.Sprintf("Höchstens %d Versuche pro Finger.", MaxAttempts))
		}
		if at.Quality != nil && (*at.Quality < 0 || *at.Quality > 100) {
			c.add(field+".quality", "quality", "NFIQ 2 score must be 0..100", "Qualitätswert muss zwischen 0 und 100 liegen.")
		}
		if at.Method != "" && at.Method != MethodNFIQ2 && at.Method != MethodEstimate {
			c.add(field+".method", "method", "method must be nfiq2 or estimate", "Unbekanntes Verfahren der Qualitätsmessung.")
		}
	}
	switch f.Service {
	case Personalausweis:
		if birthOK && age >= MinFingerprintAge && counts[KindFingerprint] == 0 && !f.Details.FingerprintsImpossible {
			c.add("attachments", "fingerprints-missing", "fingerprints required from age 6 unless details.fingerprints_impossible",
				"Fingerabdrücke fehlen. Wenn keine genommen werden können, bitte vermerken.")
		}
		if f.Details.FingerprintsImpossible && counts[KindFingerprint] > 0 {
			c.add("details.fingerprints_impossible", "contradiction", "set although fingerprints are attached", "Fingerabdrücke sind vorhanden, der Vermerk widerspricht dem.")
		}
		if cp := f.Details.Fingerprints; cp != nil {
			captured := map[string]bool{}
			for _, h := range cp.Hands() {
				if h.Status == HandCaptured {
					captured[h.Finger] = true
				}
			}
			for i, at := range f.Attachments {
				if at.Kind == KindFingerprint && at.Finger != "" && !captured[at.Finger] {
					c.add(fmt.Sprintf("attachments[%d].finger", i), "not-captured", "the capture record does not keep this finger",
						"Der Fingerabdruck passt nicht zum Ablauf der Aufnahme.")
				}
			}
		}
	case Lebensbescheinigung:
		if counts[KindScan] == 0 {
			c.add("attachments", "scan-missing", "the signed form of the insurer must be scanned", "Das unterschriebene Formular des Versicherers muss gescannt werden.")
		}
	case Wohnsitzanmeldung:
		if counts[KindScan] == 0 {
			c.add("attachments", "scan-missing", "the landlord's confirmation (Wohnungsgeberbestätigung) must be scanned",
				"Die Wohnungsgeberbestätigung muss gescannt werden.")
		}
	}
	f.checkSignature(c, counts[KindSignature], birthOK, age)
	if f.Service != Personalausweis && counts[KindPhoto] > 0 {
		c.add("attachments", "not-for-service", "photos belong to personalausweis only", "Ein Lichtbild wird nur für den Personalausweis gebraucht.")
	}
}

// checkSignature applies SignatureRules: a signature, or a waiver with its reason, never both.
func (f *File) checkSignature(c *checker, signatures int, birthOK bool, age int) {
	rule, needed := SignatureNeeded(f.Service, age, birthOK)
	waived := f.Details.SignatureWaiver != nil
	switch {
	case waived && signatures > 0:
		c.add("details.signature_waiver", "contradiction", "waiver given although a signature is attached",
			"Eine Unterschrift ist vorhanden, der Vermerk „kann nicht unterschreiben“ widerspricht dem.")
	case needed && !waived && signatures == 0:
		hint := "Die Unterschrift fehlt."
		if f.Service == Wohnsitzanmeldung {
			hint = "Die Unterschrift auf dem Anmeldeformular fehlt."
		}
		c.add("attachments", "signature-missing", "signature required ("+rule.Basis+") unless details.signature_waiver", hint+
			" Wenn die Person nicht unterschreiben kann, bitte das vermerken.")
	}
}

// CheckAttachment checks that data is what kind says: scans are PDF, JPEG or PNG; fingerprint
// records ISO/IEC 19794-4 (FIR), WSQ or PNG; signatures PNG or JPEG; photos JPEG, PNG or
// JPEG 2000. field names the attachment in the error.
func CheckAttachment(field, kind string, data []byte) error {
	if len(data) == 0 {
		return &ValidationError{[]Problem{{Field: field, Code: "empty", Message: "file is empty", Hint: "Die Anlage ist leer."}}}
	}
	if len(data) > MaxAttachmentSize {
		return &ValidationError{[]Problem{{Field: field, Code: "too-large",
			Message: fmt.Sprintf("file larger than %d bytes", MaxAttachmentSize), Hint: "Die Anlage ist zu groß."}}}
	}
	got := Sniff(data)
	want := map[string][]string{
		KindScan:        {"pdf", "jpeg", "png"},
		KindFingerprint: {"fir", "wsq", "png"},
		KindSignature:   {"png", "jpeg"},
		KindPhoto:       {"jpeg", "png", "jp2"},
	}[kind]
	for _, w := range want {
		if got == w {
			return nil
		}
	}
	return &ValidationError{[]Problem{{Field: field, Code: "content",
		Message: fmt.Sprintf("file is %s, a %s must be one of %s", got, kind, strings.Join(want, ", ")),
		Hint:    "Die Anlage hat nicht das erwartete Format."}}}
}

// Sniff names the format of data by its magic bytes: pdf, jpeg, png, jp2, fir, wsq or unknown.
func Sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("%PDF-")):
		return "pdf"
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return "jpeg"
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(data, []byte{0, 0, 0, 0x0C, 'j', 'P', ' ', ' '}):
		return "jp2"
	case bytes.HasPrefix(data, []byte("FIR\x00")):
		return "fir"
	case bytes.HasPrefix(data, []byte{0xFF, 0xA0}):
		return "wsq"
	}
	return "unknown"
}
