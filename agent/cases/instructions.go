package cases

import "fmt"

// GuardianSignsUnder is, per service, the age below which those having custody sign for the
// person (BMG §17(3): a person under 16 is registered by them).
var GuardianSignsUnder = map[Service]int{Wohnsitzanmeldung: 16}

// FingerprintInstruction is what the fingerprint step tells the caseworker about a person of
// age (ageKnown false: no birth date yet), from the fingerprint rules.
func FingerprintInstruction(age int, ageKnown bool) string {
	if ageKnown && !FingerprintsTaken(age) {
		return fmt.Sprintf("Die Person ist jünger als %d Jahre: es werden keine Fingerabdrücke genommen. Bitte einfach weiter.", MinFingerprintAge)
	}
	return fmt.Sprintf("Zuerst linker und rechter Zeigefinger. Höchstens %d Versuche je Finger.", MaxAttempts)
}

// SignatureInstruction says whether the signature step asks for a signature of a person of
// age in service s (SignatureRules) and what it tells the caseworker. ok is false for a
// service without a signature.
func SignatureInstruction(s Service, age int, ageKnown bool) (needed bool, text string, ok bool) {
	rule, needed := SignatureNeeded(s, age, ageKnown)
	if rule.Service == "" {
		return false, "", false
	}
	if ageKnown && !needed {
		return false, fmt.Sprintf("Die Person ist jünger als %d Jahre: es wird keine Unterschrift verlangt. Bitte einfach weiter.", rule.FromAge), true
	}
	if under, ok := GuardianSignsUnder[s]; ok && ageKnown && age < under {
		return true, fmt.Sprintf("Die Person ist jünger als %d Jahre: es unterschreibt, wer das Sorgerecht hat, im Feld mit dem Finger oder einem Stift.", under), true
	}
	// Without a birth date the age is not known: the pad is offered, the check at sealing decides.
	return true, "Die Person unterschreibt im Feld mit dem Finger oder einem Stift.", true
}
