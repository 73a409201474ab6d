package escl

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInfoProblem(t *testing.T) {
	tests := []struct {
		name  string
		state ADFState
		code  string
	}{
		{name: "loaded", state: ADFLoaded},
		{name: "empty is no problem", state: ADFEmpty},
		{name: "no feeder", state: ""},
		{name: "jam", state: ADFJam, code: CodeADFJam},
		{name: "mispick", state: ADFMispick, code: CodeADFJam},
		{name: "hatch open", state: ADFHatchOpen, code: CodeADFOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Info{ADFState: tt.state}.Problem()
			if tt.code == "" {
				assert.Nil(t, p)
				return
			}
			if assert.NotNil(t, p) {
				assert.Equal(t, tt.code, p.Code)
				assert.NotEmpty(t, p.Hint)
			}
		})
	}
}
