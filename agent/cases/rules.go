package cases

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"koffer/devices/fingerprint"
)

// Hand is left or right.
type Hand string

// Finger names as they appear in case files and packets: hand_finger, e.g. "right_index".
type Finger string

// Finger kinds in the fallback order of BSI TR-03121-3: index first, then thumb, middle, ring;
// never the little finger. The numbers below are those of devices/fingerprint (the capture
// protocol the CLI's `koffer finger` runs), named here in the case file's vocabulary.
var FingerOrder = []string{"index", "thumb", "middle", "ring"}

// Fingerprint rules (PAuswG §9, BSI TR-03121-3 Vol. 2).
const (
	MinFingerprintAge = fingerprint.MinAge      // nobody younger gives fingerprints
	MaxAttempts       = fingerprint.MaxAttempts // capture attempts per finger
	MinSignatureAge   = 10                      // see SignatureRules
)

// NFIQThreshold is the minimum NFIQ 2 score (0-100) of a plain print per finger kind; below it
// the capture is repeated (up to MaxAttempts) and then the operator decides.
var NFIQThreshold = map[string]int{
	"thumb":  fingerprint.Thresholds[fingerprint.Thumb],
	"index":  fingerprint.Thresholds[fingerprint.Index],
	"middle": fingerprint.Thresholds[fingerprint.Middle],
	"ring":   fingerprint.Thresholds[fingerprint.Ring],
}

// ParseFinger splits "right_index" into hand and finger kind. ok is false for anything that is
// not a hand and a known finger kind; little fingers are reported with ok true and little true.
func ParseFinger(f string) (hand, kind string, little, ok bool) {
	hand, kind, found := strings.Cut(f, "_")
	if !found || (hand != "left" && hand != "right") {
		return "", "", false, false
	}
	if kind == "little" {
		return hand, kind, true, true
	}
	return hand, kind, false, slices.Contains(FingerOrder, kind)
}

// Fallbacks returns the fingers to try on a hand, best first (never the little finger).
func Fallbacks(hand string) []string {
	out := make([]string, len(FingerOrder))
	for i, k := range FingerOrder {
		out[i] = hand + "_" + k
	}
	return out
}

// RegistrationDeadline is the time a person has to register after moving in (BMG §17(1)).
const RegistrationDeadline = 14 * 24 * time.Hour

// RegistrationLate reports whether registering on applied for a move on movedIn misses the
// deadline. Late registration is flagged for the back office, never refused.
func RegistrationLate(movedIn, applied time.Time) bool {
	return dateOnly(applied).Sub(dateOnly(movedIn)) > RegistrationDeadline
}

func dateOnly(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Age is the age in full years on day on.
func Age(birth, on time.Time) int {
	by, bm, bd := birth.Date()
	oy, om, od := on.Date()
	age := oy - by
	if om < bm || (om == bm && od < bd) {
		age--
	}
	return age
}

// Fee is an amount due for a service.
type Fee struct {
	Cents    int64     // 4600 = 46.00
	Currency string    // EUR
	Since    time.Time // the table entry that applies
	Basis    string    // legal basis / table entry, English, for the technician
}

// String formats the fee the German way: "46,00 EUR".
func (f Fee) String() string {
	return fmt.Sprintf("%d,%02d %s", f.Cents/100, f.Cents%100, f.Currency)
}

// feeEntry is one dated row of the fee table (PAuswGebV §1). Later entries replace earlier ones
// from their date on.
type feeEntry struct {
	since       time.Time
	adult       int64 // 24 and older
	young       int64 // under 24
	provisional int64 // vorläufiger Personalausweis
	basis       string
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// FeeTable is the identity card fee table. The 2026-02-07 row is the current law; the earlier
// rows are the history the kit needs to price applications captured before that day.
var feeTable = []feeEntry{
	{since: day(2010, 11, 1), adult: 2880, young: 2280, provisional: 1000, basis: "PAuswGebV 2010"},
	{since: day(2021, 1, 1), adult: 3700, young: 2280, provisional: 1000, basis: "PAuswGebV as amended 2021"},
	{since: day(2025, 5, 1), adult: 4600, young: 2280, provisional: 1000, basis: "PAuswGebV as amended 2025 (digital photo)"},
	{since: day(2026, 2, 7), adult: 4600, young: 2760, provisional: 1000, basis: "PAuswGebV as amended 2026"},
}

// AdultFeeAge is the age from which the full identity card fee applies.
const AdultFeeAge = 24

// IDCardFee returns the fee for an identity card applied for on applied by a person of age.
func IDCardFee(applied time.Time, age int, provisional bool) (Fee, bool) {
	var e *feeEntry
	for i := range feeTable {
		if !dateOnly(applied).Before(feeTable[i].since) {
			e = &feeTable[i]
		}
	}
	if e == nil {
		return Fee{}, false
	}
	f := Fee{Currency: "EUR", Since: e.since, Basis: e.basis}
	switch {
	case provisional:
		f.Cents = e.provisional
	case age >= AdultFeeAge:
		f.Cents = e.adult
	default:
		f.Cents = e.young
	}
	return f, true
}

// ServiceFee returns what a service costs. The registration confirmation and the life
// certificate confirmation are free; the register extract's fee is a municipal tariff, taken
// from the kit's configuration (zero here).
func ServiceFee(s Service, applied time.Time, age int, provisional bool) Fee {
	if s == Personalausweis {
		if f, ok := IDCardFee(applied, age, provisional); ok {
			return f
		}
	}
	return Fee{Currency: "EUR", Basis: "free or municipal tariff"}
}

// Photo sources of an identity card photo (since 1 May 2025 digital only, BSI TR-03170-2).
const (
	PhotoPhotographer = "photographer" // a certified photographer's DataMatrix code (details.photo_code)
	PhotoAuthority    = "authority"    // taken by the authority on site (a photo attachment)
)

// PaymentMethods are how a fee may be paid at the door.
var PaymentMethods = []string{"cash", "card", "invoice"}

// PaymentLabels are the German names of PaymentMethods, as the form offers them and the
// receipt prints them.
var PaymentLabels = map[string]string{"cash": "Bar bezahlt", "card": "Mit Karte bezahlt", "invoice": "Rechnung folgt"}

// SignatureRule says from which age a service needs the person's own signature. A person who
// cannot sign gives none: the caseworker records a waiver with the reason instead.
type SignatureRule struct {
	Service Service
	FromAge int
	Basis   string // legal reference, English, for the technician and the back office
}

// SignatureRules are the services that carry a signature.
var SignatureRules = []SignatureRule{
	{Personalausweis, MinSignatureAge, "PAuswG §5, §9: the card shows the holder's signature from age 10; none if the person cannot sign"},
	{Wohnsitzanmeldung, 0, "BMG §23(1): the registration form is signed; for a person under 16 by those having custody (BMG §17(3))"},
}

// SignatureNeeded reports whether service s needs a signature from a person of age (the age is
// ignored when unknown), and the rule that says so.
func SignatureNeeded(s Service, age int, ageKnown bool) (SignatureRule, bool) {
	for _, r := range SignatureRules {
		if r.Service == s {
			return r, !ageKnown && r.FromAge == 0 || ageKnown && age >= r.FromAge
		}
	}
	return SignatureRule{}, false
}

// Confirmations lists what the caseworker confirms on the spot, per service.
var Confirmations = map[Service][]string{
	Lebensbescheinigung: {"signed_in_presence", "identity_checked"},
	Wohnsitzanmeldung:   {"landlord_confirmation_present", "form_signed"},
}

// FingerprintsTaken reports whether a person of age gives fingerprints (PAuswG §9: nobody
// under MinFingerprintAge).
func FingerprintsTaken(age int) bool { return age >= MinFingerprintAge }
