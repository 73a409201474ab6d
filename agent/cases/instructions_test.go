package cases

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInstructionsFollowTheAgeRules(t *testing.T) {
	tests := []struct {
		name         string
		service      Service
		age          int
		known        bool
		fingers      string
		signNeeded   bool
		signText     string
		notInFingers string
	}{
		{name: "child of 4", service: Personalausweis, age: 4, known: true,
			fingers: "keine Fingerabdrücke", notInFingers: "Zeigefinger", signNeeded: false, signText: "keine Unterschrift"},
		{name: "child of 8", service: Personalausweis, age: 8, known: true,
			fingers: "Zeigefinger", signNeeded: false, signText: "jünger als 10"},
		{name: "adult", service: Personalausweis, age: 40, known: true,
			fingers: "Zeigefinger", signNeeded: true, signText: "unterschreibt im Feld"},
		{name: "age unknown", service: Personalausweis, known: false,
			fingers: "Zeigefinger", signNeeded: true, signText: "unterschreibt im Feld"},
		{name: "registration of a child", service: Wohnsitzanmeldung, age: 5, known: true,
			fingers: "keine Fingerabdrücke", signNeeded: true, signText: "Sorgerecht"},
		{name: "registration of an adult", service: Wohnsitzanmeldung, age: 30, known: true,
			fingers: "Zeigefinger", signNeeded: true, signText: "unterschreibt im Feld"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FingerprintInstruction(tt.age, tt.known)
			assert.Contains(t, f, tt.fingers)
			if tt.notInFingers != "" {
				assert.NotContains(t, f, tt.notInFingers)
			}
			needed, text, ok := SignatureInstruction(tt.service, tt.age, tt.known)
			assert.True(t, ok)
			assert.Equal(t, tt.signNeeded, needed)
			assert.Contains(t, text, tt.signText)
			if tt.known {
				rule, want := SignatureNeeded(tt.service, tt.age, tt.known)
				assert.Equal(t, want, needed, "the instruction follows SignatureRules (%s)", rule.Basis)
			}
		})
	}
	_, _, ok := SignatureInstruction(Lebensbescheinigung, 70, true)
	assert.False(t, ok, "no signature step in this service")
}
