package escl

import (
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Quirks is what one scanner model needs beyond the protocol. The zero value is a
// well-behaved device.
type Quirks struct {
	Match             string   `toml:"match"`
	MaxResolution     int      `toml:"max_resolution"`
	NextDocumentDelay Duration `toml:"next_document_delay"`
	RetryNotFound     int      `toml:"retry_not_found"`
	PrecheckADF       bool     `toml:"precheck_adf"`
	HostLocalhost     bool     `toml:"host_localhost"`
}

// Duration is a time.Duration written as "500ms" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("quirk duration: %w", err)
	}
	d.Duration = v
	return nil
}

//go:embed quirks.toml
var quirksTOML string

// QuirkTable is a list of per-model quirks.
type QuirkTable struct {
	Model []Quirks `toml:"model"`
}

// ParseQuirks decodes a quirks table in the format of quirks.toml.
func ParseQuirks(text string) (*QuirkTable, error) {
	var t QuirkTable
	if _, err := toml.Decode(text, &t); err != nil {
		return nil, fmt.Errorf("parse quirks: %w", err)
	}
	for i, q := range t.Model {
		if strings.TrimSpace(q.Match) == "" {
			return nil, fmt.Errorf("parse quirks: entry %d has no match", i)
		}
	}
	return &t, nil
}

// BuiltinQuirks returns the table compiled into koffer.
func BuiltinQuirks() *QuirkTable {
	t, err := ParseQuirks(quirksTOML)
	if err != nil {
		panic(err) // quirks.toml is tested; a broken file must not ship
	}
	return t
}

// Lookup returns the quirks for makeAndModel: an exact match wins over a prefix match.
func (t *QuirkTable) Lookup(makeAndModel string) Quirks {
	var best Quirks
	found := false
	for _, q := range t.Model {
		if q.Match == makeAndModel {
			return q
		}
		if p, ok := strings.CutSuffix(q.Match, "*"); ok && !found && strings.HasPrefix(makeAndModel, p) {
			best, found = q, true
		}
	}
	return best
}
