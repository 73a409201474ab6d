package backoffice

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFormFieldsLabelsKnownFieldsAndKeepsTheRest(t *testing.T) {
	got := formFields([]byte(`{"person":{"family_name":"Muster","birth_date":"1931-02-03"},"details":{"photo_code":"https://x?key=geheim","neu":1},"case_id":"x","late":true}`))
	assert.Equal(t, []field{
		{"Familienname", "Muster"}, {"Geburtsdatum", "03.02.1931"}, {"Nachmeldung (Frist überschritten)", "ja"},
		{"Lichtbild vom Fotografen", "vorhanden (wird vom Rathaus abgerufen)"}, {"details.neu", "1"},
	}, got)
	assert.Equal(t, []field{{"Formulardaten", "nicht lesbar"}}, formFields([]byte("{")))
}

// FuzzFormFields: form.json comes from a kit; whatever it holds, the case view shows it
// without failing, and never the photographer's secret code.
func FuzzFormFields(f *testing.F) {
	f.Add([]byte(`{"person":{"family_name":"A"},"details":{"photo_code":"geheim"}}`))
	f.Add([]byte(`[1,2,{"a":null}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fl := range formFields(data) {
			if fl.Label == "Lichtbild vom Fotografen" {
				assert.Equal(t, "vorhanden (wird vom Rathaus abgerufen)", fl.Value)
			}
		}
	})
}
