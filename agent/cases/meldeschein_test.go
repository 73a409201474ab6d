package cases

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The form fills the Meldeschein one path at a time: a slot's first value creates its part,
// empty slots add nothing, and clearing the last value removes the part again.
func TestMeldescheinPaths(t *testing.T) {
	f := &File{Service: Wohnsitzanmeldung}
	for p, v := range map[string]string{
		"details.meldeschein.sex":                         "female",
		"details.meldeschein.other_nationalities":         "pol ukr",
		"details.meldeschein.id_documents[0].kind":        "reisepass",
		"details.meldeschein.id_documents[1].kind":        "",
		"details.co_movers[1].given_names":                "Lio",
		"details.co_movers[2].family_name":                "",
		"details.meldeschein.other_residences[0].country": "",
	} {
		require.NoError(t, f.Set(p, v), p)
	}
	m := f.Details.Meldeschein
	require.NotNil(t, m)
	assert.Equal(t, "female", m.Sex)
	assert.Equal(t, []string{"POL", "UKR"}, m.OtherNationalities)
	assert.Len(t, m.IDDocuments, 1, "the empty second slot adds no document")
	assert.Nil(t, m.OtherResidences)
	require.Len(t, f.Details.CoMovers, 2, "slot 1 keeps its place; slot 2 was empty")
	assert.Equal(t, "Lio", f.Details.CoMovers[1].GivenNames)

	require.NoError(t, f.Set("details.co_movers[1].given_names", ""))
	assert.Nil(t, f.Details.CoMovers, "the cleared co-mover and the empty one before it are gone")
	for _, p := range []string{"details.meldeschein.sex", "details.meldeschein.other_nationalities", "details.meldeschein.id_documents[0].kind"} {
		require.NoError(t, f.Set(p, ""))
	}
	assert.Nil(t, f.Details.Meldeschein)
}

func TestMeldescheinRules(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/cases/valid/wohnsitzanmeldung-familie/case.json")
	require.NoError(t, err)
	tests := []struct {
		name        string
		edit        func(f *File)
		field, code string
	}{
		{"valid", func(f *File) {}, "", ""},
		{"previous address abroad without postcode", func(f *File) { f.Details.PreviousAddress.PostalCode = "" }, "", ""},
		{"previous address abroad, country no code", func(f *File) { f.Details.PreviousAddress.Country = "Österreich" },
			"details.previous_address.country", "country"},
		{"German previous address needs five digits", func(f *File) { f.Details.PreviousAddress.Country = "" },
			"details.previous_address.postal_code", "postal-code"},
		{"new address abroad", func(f *File) { f.Person.Address.Country = "AUT" }, "person.address.country", "abroad"},
		{"unknown marital status", func(f *File) { f.Details.Meldeschein.MaritalStatus = "verlobt" },
			"details.meldeschein.marital_status", "choice"},
		{"religion optional", func(f *File) { f.Details.Meldeschein.Religion = "" }, "", ""},
		{"unknown religion", func(f *File) { f.Details.Meldeschein.Religion = "jedi" }, "details.meldeschein.religion", "choice"},
		{"main dwelling needs the other", func(f *File) { f.Details.Meldeschein.OtherResidences = nil },
			"details.meldeschein.other_residences", "required"},
		{"ID document needs its authority", func(f *File) { f.Details.Meldeschein.IDDocuments[0].Authority = "" },
			"details.meldeschein.id_documents[0].authority", "required"},
		{"co-mover nationality", func(f *File) { f.Details.CoMovers[0].Nationality = "at" },
			"details.co_movers[0].nationality", "nationality"},
		{"no Meldeschein", func(f *File) { f.Details.Meldeschein, f.Details.CoMovers = nil, nil },
			"details.meldeschein", "required"},
		{"no ID document of the registering person", func(f *File) { f.Details.Meldeschein.IDDocuments = nil },
			"details.meldeschein.id_documents", "required"},
		{"a child without an ID document", func(f *File) { f.Details.CoMovers[1].IDDocuments = nil }, "", ""},
		{"not for another service", func(f *File) { f.Service = Lebensbescheinigung }, "details.meldeschein", "not-for-service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(raw)
			require.NoError(t, err)
			tt.edit(f)
			_, err = f.Validate(applied)
			if tt.code == "" {
				assert.NoError(t, err)
				return
			}
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Contains(t, ve.Problems, problemAt(ve.Problems, tt.field, tt.code), "want %s %s in %v", tt.field, tt.code, ve.Problems)
			assert.NotEmpty(t, problemAt(ve.Problems, tt.field, tt.code).Hint)
		})
	}
}

func problemAt(ps []Problem, field, code string) Problem {
	for _, p := range ps {
		if p.Field == field && p.Code == code {
			return p
		}
	}
	return Problem{Field: field, Code: code}
}
