package cases

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDuplicateKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "none", in: `{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`},
		{name: "top level", in: `{"service":"x","service":"y"}`, want: "service"},
		{name: "nested", in: `{"person":{"family_name":"a","family_name":"b"}}`, want: "person.family_name"},
		{name: "in an array", in: `{"attachments":[{"kind":"scan"},{"kind":"scan","kind":"photo"}]}`, want: "attachments[1].kind"},
		{name: "case folds like encoding/json", in: `{"Service":"x","service":"y"}`, want: "service"},
		{name: "same key in sibling objects is fine", in: `{"a":{"k":1},"b":{"k":1}}`},
		{name: "malformed is left to the decoder", in: `{"a":1,"a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := duplicateKey([]byte(tt.in))
			assert.Equal(t, tt.want != "", ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseRefusesDuplicateKeyAndBOM(t *testing.T) {
	_, err := Parse([]byte(`{"service":"wohnsitzanmeldung","person":{"family_name":"A","family_name":"B"}}`))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "person.family_name", ve.Problems[0].Field)
	assert.Equal(t, "duplicate-key", ve.Problems[0].Code)
	assert.NotContains(t, err.Error(), "A", "the values are not repeated")

	_, err = Parse([]byte("\xEF\xBB\xBF{}"))
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "bom", ve.Problems[0].Code)
}

// FuzzDuplicateKey: the duplicate-key walk never panics; a duplicate it names makes Parse
// refuse the file naming that field; and JSON it passes decodes, and stays free of duplicates
// once re-encoded.
func FuzzDuplicateKey(f *testing.F) {
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`{"a":{"b":[{"c":1,"C":2}]}}`))
	f.Add([]byte(`[{"x":1},{"x":1}]`))
	f.Add([]byte(`{"person":{"family_name":"a","family_name":"b"}}`))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path, ok := duplicateKey(data)
		if ok {
			require.NotEmpty(t, path)
			if !utf8.Valid(data) || bytes.HasPrefix(data, utf8BOM) || len(data) > MaxFileSize {
				return
			}
			_, err := Parse(data)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, Problem{Field: path, Code: "duplicate-key", Message: "field given more than once",
				Hint: "Das Feld " + path + " ist mehrfach angegeben."}, ve.Problems[0])
			return
		}
		if !json.Valid(data) {
			return
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber() // 1E700 is valid JSON but no float64
		require.NoError(t, dec.Decode(&v))
		again, err := json.Marshal(v)
		require.NoError(t, err)
		_, ok = duplicateKey(again)
		assert.False(t, ok)
	})
}
