// Package devices is the shared vocabulary of the kit's hardware: device kinds and the error a
// device failure becomes, with a code for the technician and a German hint for the caseworker.
package devices

import "errors"

// Kind is the role a device plays in the kit.
type Kind string

const (
	Printer     Kind = "printer"
	Scanner     Kind = "scanner"
	Fingerprint Kind = "fingerprint"
)

// Error is a device failure as both audiences need it. Code is stable and English
// ("printer.media-empty"); Hint is a plain German sentence that says what to do next
// ("Papier einlegen und auf Weiter tippen."). Err is the underlying cause, for logs.
type Error struct {
	Kind Kind
	Code string
	Hint string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Kind) + ": " + e.Code + ": " + e.Err.Error()
	}
	return string(e.Kind) + ": " + e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// Hint returns the German hint of the first *Error in err's chain, or a generic one.
func Hint(err error) string {
	var de *Error
	if errors.As(err, &de) && de.Hint != "" {
		return de.Hint
	}
	return "Das Gerät antwortet nicht wie erwartet. Bitte Verbindung prüfen und erneut versuchen."
}

// Code returns the technician's code of the first *Error in err's chain, or "" when there is
// none (a device failure without a code is still an error).
func Code(err error) string {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}
