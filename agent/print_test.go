package agent

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"koffer/agent/keys"
	"koffer/agent/web"
	"koffer/sync/enroll"
)

// The letterhead comes from the enrollment bundle; the config serves kits whose bundle has
// none; a training kit without either prints the marked training values; a real kit without
// either prints no place at all rather than a made-up one.
func TestLetterheadFromBundle(t *testing.T) {
	town := enroll.Letterhead{AuthorityName: "Stadt Müßingen – Bürgeramt", AuthorityAddress: "Marktplatz 1, 12345 Müßingen", Place: "Müßingen"}
	cfg := Config{AuthorityName: "Gemeinde Alt – Bürgerbüro", Place: "Alt"}
	tests := []struct {
		name      string
		bundle    enroll.Letterhead
		config    Config
		training  bool
		wantName  string
		wantPlace string
	}{
		{name: "bundle", bundle: town, config: cfg, wantName: town.AuthorityName, wantPlace: "Müßingen"},
		{name: "config for an old bundle", config: cfg, wantName: cfg.AuthorityName, wantPlace: "Alt"},
		{name: "training", training: true, wantName: enroll.TrainingLetterhead.AuthorityName, wantPlace: "Übungskommune"},
		{name: "training kit with a bundle letterhead", bundle: enroll.TrainingLetterhead, training: true,
			wantName: enroll.TrainingLetterhead.AuthorityName, wantPlace: "Übungskommune"},
		{name: "nothing set", wantName: "Bürgeramt", wantPlace: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Agent{kit: &keys.Kit{Bundle: &enroll.Bundle{Letterhead: tt.bundle}},
				opts: Options{Config: tt.config, Training: tt.training}}
			auth, place := a.letterhead()
			assert.Equal(t, tt.wantName, auth.Name)
			assert.Equal(t, tt.wantPlace, place)
		})
	}
}

func TestOptionLabel(t *testing.T) {
	assert.Equal(t, "Bar bezahlt", optionLabel(web.Personalausweis, "zahlart", "bar"))
	assert.Equal(t, "", optionLabel(web.Personalausweis, "zahlart", ""), "not captured: not printed")
	assert.Equal(t, "", optionLabel(web.Personalausweis, "zahlart", "bitcoin"))
}
