// Package visit is the visit pack: what the town hall prepares for one kit's visit day
// (the booked appointments and, where a Meldebescheinigung is booked, the register extract
// it certifies). The kit cannot reach the population register offline, so a
// Meldebescheinigung is printed from this extract only.
//
// The town hall signs the pack together with the id of the kit it is for, with its receipt
// key (sync/receipt, domain Domain), and seals the signed envelope with age to the kit's
// visit-pack recipient: an X25519 key the kit keeps wrapped by its data key, so a pack opens
// only while a caseworker is logged in. Sign, then seal: the signature is checked against the
// CA the kit pins before anything of the pack is used, and it names the kit, so a pack cannot
// be re-sealed to another kit.
package visit

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"time"

	"filippo.io/age"

	"koffer/sync/receipt"
)

// Domain is the domain string of the town hall's signature over a visit pack.
const Domain = "koffer visit pack signature v1"

// ErrUnsigned means the pack carries no valid signature of the town hall for this kit.
var ErrUnsigned = errors.New("visit pack not signed by the town hall for this kit")

// signedPack is the payload the town hall signs.
type signedPack struct {
	Version int    `json:"version"`
	KitID   string `json:"kit_id"`
	Pack    []byte `json:"pack"` // the pack's JSON, exactly as validated
}

// Version is the pack format this package reads and writes.
const Version = 1

// MaxSize bounds a pack (a day of appointments is a few kilobytes).
const MaxSize = 1 << 20

// Services that can be booked (the case file's service names).
var Services = []string{"personalausweis", "lebensbescheinigung", "meldebescheinigung", "wohnsitzanmeldung"}

// Pack is one visit day.
type Pack struct {
	Version      int           `json:"version"`
	Date         string        `json:"date"` // YYYY-MM-DD
	Appointments []Appointment `json:"appointments"`
}

// Appointment is one booked visit.
type Appointment struct {
	ID       string   `json:"id"`
	Time     string   `json:"time"`  // HH:MM
	Place    string   `json:"place"` // "Pflegeheim Abendrot, Zimmer 12"
	Services []string `json:"services"`
	Person   Person   `json:"person"`
	// Register is the extract of the population register (BMG §18(1)); required when a
	// Meldebescheinigung is booked.
	Register *Extract `json:"register_extract,omitempty"`
}

// Person prefills the case (same fields as the case file's person).
type Person struct {
	FamilyName  string  `json:"family_name"`
	GivenNames  string  `json:"given_names"`
	BirthDate   string  `json:"birth_date"` // YYYY-MM-DD
	BirthPlace  string  `json:"birth_place"`
	Nationality string  `json:"nationality"`
	Address     Address `json:"address"`
}

// Address is a postal address.
type Address struct {
	Street      string `json:"street"`
	HouseNumber string `json:"house_number"`
	PostalCode  string `json:"postal_code"`
	City        string `json:"city"`
}

// Extract holds the data of a simple Meldebescheinigung (BMG §18(1)), as the register has them.
type Extract struct {
	FamilyName            string      `json:"family_name"`
	FormerNames           string      `json:"former_names,omitempty"`
	GivenNames            string      `json:"given_names"`
	DoctorTitle           string      `json:"doctor_title,omitempty"`
	ReligiousOrArtistName string      `json:"religious_or_artist_name,omitempty"`
	BirthDate             string      `json:"birth_date"` // YYYY-MM-DD
	BirthPlace            string      `json:"birth_place"`
	BirthState            string      `json:"birth_state,omitempty"` // when born abroad
	Residences            []Residence `json:"residences"`
}

// Residence is one current address with its kind of dwelling.
type Residence struct {
	Address  string `json:"address"`
	Dwelling string `json:"dwelling"` // "alleinige Wohnung", "Hauptwohnung" or "Nebenwohnung"
}

var (
	hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	id   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Parse decodes and validates a pack: unknown fields, missing data and a Meldebescheinigung
// without a register extract are errors naming the place.
func Parse(data []byte) (*Pack, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("visit pack: larger than %d bytes", MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Pack
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("visit pack: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("visit pack: data after the pack")
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("visit pack: %w", err)
	}
	return &p, nil
}

func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

func (p *Pack) validate() error {
	if p.Version != Version {
		return fmt.Errorf("version %d not supported (want %d)", p.Version, Version)
	}
	if !validDate(p.Date) {
		return fmt.Errorf("date %q: want YYYY-MM-DD", p.Date)
	}
	seen := map[string]bool{}
	for i, a := range p.Appointments {
		at := fmt.Sprintf("appointments[%d]", i)
		switch {
		case !id.MatchString(a.ID) || seen[a.ID]:
			return fmt.Errorf("%s.id %q: missing, malformed or repeated", at, a.ID)
		case !hhmm.MatchString(a.Time):
			return fmt.Errorf("%s.time %q: want HH:MM", at, a.Time)
		case a.Place == "":
			return fmt.Errorf("%s.place: missing", at)
		case len(a.Services) == 0:
			return fmt.Errorf("%s.services: none booked", at)
		case a.Person.FamilyName == "" || a.Person.GivenNames == "":
			return fmt.Errorf("%s.person: names missing", at)
		case a.Person.BirthDate != "" && !validDate(a.Person.BirthDate):
			return fmt.Errorf("%s.person.birth_date %q: want YYYY-MM-DD", at, a.Person.BirthDate)
		}
		seen[a.ID] = true
		for _, s := range a.Services {
			if !slices.Contains(Services, s) {
				return fmt.Errorf("%s.services: unknown service %q", at, s)
			}
		}
		if slices.Contains(a.Services, "meldebescheinigung") {
			if err := a.Register.validate(); err != nil {
				return fmt.Errorf("%s.register_extract: %w", at, err)
			}
		}
	}
	return nil
}

func (e *Extract) validate() error {
	switch {
	case e == nil:
		return errors.New("missing: a Meldebescheinigung needs the register extract")
	case e.FamilyName == "" || e.GivenNames == "":
		return errors.New("names missing")
	case !validDate(e.BirthDate):
		return fmt.Errorf("birth_date %q: want YYYY-MM-DD", e.BirthDate)
	case e.BirthPlace == "":
		return errors.New("birth_place missing")
	case len(e.Residences) == 0:
		return errors.New("residences: none")
	}
	for i, r := range e.Residences {
		if r.Address == "" || !slices.Contains([]string{"alleinige Wohnung", "Hauptwohnung", "Nebenwohnung"}, r.Dwelling) {
			return fmt.Errorf("residences[%d]: address and dwelling (alleinige Wohnung, Hauptwohnung, Nebenwohnung) required", i)
		}
	}
	return nil
}

// Appointment returns the appointment with id, or nil.
func (p *Pack) Appointment(id string) *Appointment {
	for i := range p.Appointments {
		if p.Appointments[i].ID == id {
			return &p.Appointments[i]
		}
	}
	return nil
}

// Seal validates pack, signs it for kitID with the town hall's receipt key and encrypts the
// signed envelope to the kit's visit-pack recipient. It returns the pack as validated too.
func Seal(pack []byte, kitID string, s *receipt.Signer, to age.Recipient) ([]byte, *Pack, error) {
	p, err := Parse(pack)
	if err != nil {
		return nil, nil, err
	}
	payload, err := json.Marshal(signedPack{Version: Version, KitID: kitID, Pack: pack})
	if err != nil {
		return nil, nil, fmt.Errorf("seal visit pack: %w", err)
	}
	env, err := s.SignPayload(Domain, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("seal visit pack: %w", err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, to)
	if err != nil {
		return nil, nil, fmt.Errorf("seal visit pack: %w", err)
	}
	if _, err := w.Write(env); err != nil {
		return nil, nil, fmt.Errorf("seal visit pack: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, nil, fmt.Errorf("seal visit pack: %w", err)
	}
	return buf.Bytes(), p, nil
}

// maxEnvelope bounds the decrypted envelope: the pack in base64 plus a certificate.
const maxEnvelope = 2*MaxSize + 16<<10

// Open decrypts a pack sealed to the kit's visit-pack identity, checks the town hall's
// signature against the pinned CA at now and that the pack is for kitID, and parses it. It
// returns the pack and its JSON as signed. A pack that is not signed, signed by another key,
// or signed for another kit is refused with ErrUnsigned.
func Open(sealed []byte, kitID string, ident age.Identity, ca *x509.Certificate, now time.Time) (*Pack, []byte, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), ident)
	if err != nil {
		return nil, nil, fmt.Errorf("open visit pack: %w", err)
	}
	env, err := io.ReadAll(io.LimitReader(r, maxEnvelope+1))
	if err != nil {
		return nil, nil, fmt.Errorf("open visit pack: %w", err)
	}
	if len(env) > maxEnvelope {
		return nil, nil, fmt.Errorf("open visit pack: larger than %d bytes", maxEnvelope)
	}
	payload, err := receipt.VerifyPayload(env, Domain, ca, now)
	if err != nil {
		return nil, nil, fmt.Errorf("open visit pack: %w: %w", ErrUnsigned, err)
	}
	var sp signedPack
	if err := json.Unmarshal(payload, &sp); err != nil || sp.Version != Version {
		return nil, nil, fmt.Errorf("open visit pack: %w: payload malformed", ErrUnsigned)
	}
	if sp.KitID != kitID {
		return nil, nil, fmt.Errorf("open visit pack: %w: signed for kit %q", ErrUnsigned, sp.KitID)
	}
	p, err := Parse(sp.Pack)
	if err != nil {
		return nil, nil, err
	}
	return p, sp.Pack, nil
}
