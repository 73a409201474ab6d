// Package cases holds the four services of the kit as data plus rules: what each needs, the
// fingerprint rules, deadlines, fees, the case file contract and the state machine a case
// moves through. It does no I/O.
package cases

import (
	"errors"
	"fmt"
)

// Service is one of the four services a kit offers.
type Service string

const (
	Personalausweis     Service = "personalausweis"     // identity card application, PAuswG §9
	Lebensbescheinigung Service = "lebensbescheinigung" // life certificate for a pension fund
	Meldebescheinigung  Service = "meldebescheinigung"  // register extract, BMG §18
	Wohnsitzanmeldung   Service = "wohnsitzanmeldung"   // registration of residence, BMG §17
)

// Services lists the services in the order the UI shows them.
var Services = []Service{Personalausweis, Lebensbescheinigung, Meldebescheinigung, Wohnsitzanmeldung}

// Title is the German name shown to caseworkers.
func (s Service) Title() string {
	switch s {
	case Personalausweis:
		return "Personalausweis beantragen"
	case Lebensbescheinigung:
		return "Lebensbescheinigung"
	case Meldebescheinigung:
		return "Meldebescheinigung"
	case Wohnsitzanmeldung:
		return "Wohnsitz anmelden"
	}
	return string(s)
}

// Valid reports whether s is a known service.
func (s Service) Valid() bool {
	for _, v := range Services {
		if s == v {
			return true
		}
	}
	return false
}

// State is where a case stands. Draft cases are being captured (encrypted with the data key);
// sealed ones wait in the outbox; delivered ones have a receipt; purged ones hold ids only.
type State string

const (
	Draft     State = "draft"
	Sealed    State = "sealed"
	Uploading State = "uploading"
	Delivered State = "delivered"
	Purged    State = "purged"
	Cancelled State = "cancelled"
)

// ErrIllegalMove is returned for a state change the machine does not allow.
var ErrIllegalMove = errors.New("illegal state change")

var moves = map[State][]State{
	Draft:     {Sealed, Cancelled},
	Sealed:    {Uploading, Delivered},
	Uploading: {Delivered},
	Delivered: {Purged},
}

// Move checks the change from -> to and returns ErrIllegalMove (wrapped) if it is not allowed.
// Sealed cases cannot be cancelled: the kit cannot read them back, the town hall decides.
func Move(from, to State) error {
	for _, s := range moves[from] {
		if s == to {
			return nil
		}
	}
	return fmt.Errorf("%w: %s -> %s", ErrIllegalMove, from, to)
}

// States lists every state.
var States = []State{Draft, Sealed, Uploading, Delivered, Purged, Cancelled}

// Documents the kit prints on the spot.
const (
	DocReceipt      = "quittung"      // Antragsquittung (Personalausweis)
	DocConfirmation = "bestaetigung"  // Lebensbescheinigung confirmation
	DocRegister     = "melde"         // Meldebescheinigung
	DocForm         = "formular"      // Anmeldeformular for signature
	DocRegistration = "anmeldebestae" // Meldebestätigung (free, 8 fields)
)

// VisitOnly reports whether service s is started from a booked visit only: a
// Meldebescheinigung certifies what the register holds, and the kit has the register only as
// the extract in the visit pack (ErrNoExtract).
func VisitOnly(s Service) bool { return s == Meldebescheinigung }

// Printing rules of the register extract (BMG §18): a Meldebescheinigung certifies what the
// register holds, so the kit prints it from the visit pack's extract only, never from what was
// typed at the door; the pack carries the simple extract (§18(1)) only.
var (
	ErrNoExtract = &ValidationError{[]Problem{{Code: "no-extract", Message: "no register extract in the visit pack",
		Hint: "Für diese Meldebescheinigung liegt kein Registerauszug vor. " +
			"Bitte den Vorgang über den gebuchten Besuch auf der Startseite beginnen; ohne Besuchspaket stellt das Bürgeramt die Bescheinigung aus."}}}
	ErrExtended = &ValidationError{[]Problem{{Field: "details.extended", Code: "extended", Message: "the kit prints the simple certificate only",
		Hint: "Eine erweiterte Meldebescheinigung stellt das Bürgeramt aus. " +
			"Der Koffer kann die einfache Meldebescheinigung drucken: bitte unter „Registerauszug und Ausweis“ ändern."}}}
)
