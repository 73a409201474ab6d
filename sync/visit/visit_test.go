package visit

import (
	"crypto/ed25519"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/townhall"
)

func example(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("../../testdata/visits/2026-11-24.json")
	require.NoError(t, err)
	return data
}

func TestParseExample(t *testing.T) {
	p, err := Parse(example(t))
	require.NoError(t, err)
	assert.Equal(t, "2026-11-24", p.Date)
	require.Len(t, p.Appointments, 2)
	a := p.Appointment("termin-1")
	require.NotNil(t, a)
	require.NotNil(t, a.Register)
	assert.Equal(t, "Beispielmann", a.Register.FormerNames)
	assert.Equal(t, "alleinige Wohnung", a.Register.Residences[0].Dwelling)
	assert.Nil(t, p.Appointment("nope"))
}

func TestParseRejects(t *testing.T) {
	good := string(example(t))
	tests := []struct {
		name, from, to, want string
	}{
		{name: "unknown field", from: `"version": 1,`, to: `"version": 1, "extra": 1,`, want: "unknown field"},
		{name: "bad date", from: `"date": "2026-11-24"`, to: `"date": "24.11.2026"`, want: "date"},
		{name: "bad time", from: `"time": "09:30"`, to: `"time": "9h30"`, want: "time"},
		{name: "unknown service", from: `["personalausweis"]`, to: `["reisepass"]`, want: "unknown service"},
		{name: "repeated id", from: `"id": "termin-2"`, to: `"id": "termin-1"`, want: "repeated"},
		{name: "melde without extract", from: `"services": ["personalausweis"]`, to: `"services": ["meldebescheinigung"]`, want: "register_extract"},
		{name: "bad dwelling", from: `"dwelling": "alleinige Wohnung"`, to: `"dwelling": "Villa"`, want: "dwelling"},
		{name: "trailing data", from: "  ]\n}\n", to: "  ]\n}\n{}", want: "after the pack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Contains(t, good, tt.from)
			_, err := Parse([]byte(strings.Replace(good, tt.from, tt.to, 1)))
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// TestOpenWhatTheTownhallSeals: a pack sealed by the town hall opens with the kit's key only.
func TestOpenWhatTheTownhallSeals(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	sealed, err := townhall.SealForKit(pub, example(t))
	require.NoError(t, err)
	assert.NotContains(t, string(sealed), "Fiktiva")

	p, raw, err := Open(sealed, key)
	require.NoError(t, err)
	assert.Len(t, p.Appointments, 2)
	assert.Equal(t, example(t), raw)

	_, other, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	_, _, err = Open(sealed, other)
	assert.Error(t, err, "another kit cannot open it")
}

func FuzzParse(f *testing.F) {
	f.Add(example(f))
	f.Add([]byte(`{"version":1,"date":"2026-01-01","appointments":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err == nil {
			assert.NoError(t, p.validate(), "what parses is valid")
		}
	})
}
