package documents

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
)

// The eight data of § 24 Abs. 2 Satz 2 BMG as labels, written out here so that the list in
// meldung.go cannot drift without this test noticing.
var want24 = []string{"Familienname", "Vornamen", "Doktorgrad", "Geburtsdatum", "Einzugsdatum",
	"Tag der Anmeldung", "Anschrift", "Wohnung"}

// fieldLine is a "label    value" line as pdftotext -layout shows a field.
var fieldLine = regexp.MustCompile(`(?m)^[ \t]*(\S(?:\S| \S)*)[ \t]{2,}\S`)

// TestDocumentsCompleteTrainingKit renders every certificate as a training kit does (the
// training bundle's letterhead, a caseworker's name, a real UUIDv7 case id) and reads it back
// with poppler: no line starts with ", den", no "der Deutsche", the caseworker's name and the
// short case number are there, and the Meldebestätigung shows exactly the § 24(2) data that
// were captured.
func TestDocumentsCompleteTrainingKit(t *testing.T) {
	lh := enroll.TrainingLetterhead
	id, err := uuid.NewV7()
	require.NoError(t, err)
	is := Issue{Authority: Authority{Name: lh.AuthorityName, Address: lh.AuthorityAddress}, Place: lh.Place,
		CaseID: id.String(), Issued: issued, Caseworker: "Bernd Muster", Training: true}
	p := person
	noDoctor := p
	noDoctor.DoctorTitle = ""
	moved := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name  string
		cert  Certificate
		sign  bool     // carries the authority's "Im Auftrag" block
		melde []string // for a Meldebestätigung: exactly these field labels
	}{
		{name: "meldebescheinigung", sign: true, cert: Meldebescheinigung{Issue: is, Person: p, Address: "Straße der Einheit 7, 00000 Übungskommune", Dwelling: "Hauptwohnung"}},
		{name: "meldebestaetigung-all", sign: true, melde: want24, cert: Anmeldebestaetigung{Issue: is, Person: p,
			Address: "Sonnenstraße 3, 00000 Übungskommune", Dwelling: "Hauptwohnung", MovedIn: moved, Registered: issued}},
		{name: "meldebestaetigung-not-asked", sign: true,
			melde: []string{"Familienname", "Vornamen", "Geburtsdatum", "Einzugsdatum", "Tag der Anmeldung", "Anschrift"},
			cert:  Anmeldebestaetigung{Issue: is, Person: noDoctor, Address: "Sonnenstraße 3, 00000 Übungskommune", MovedIn: moved, Registered: issued}},
		{name: "meldebestaetigung-family", sign: true, melde: slices.Concat(want24,
			[]string{"Familienname", "Vornamen", "Geburtsdatum", "Einzugsdatum", "Tag der Anmeldung", "Anschrift", "Wohnung"}),
			cert: Anmeldebestaetigung{Issue: is, Person: p, Address: "Sonnenstraße 3, 00000 Übungskommune", Dwelling: "Hauptwohnung",
				MovedIn: moved, Registered: issued, CoMovers: []CoRegistered{{Person: noDoctor, Dwelling: "alleinige Wohnung"}}}},
		{name: "lebensbescheinigung", sign: true, cert: Lebensbescheinigung{Issue: is, Person: p, Address: "Pflegeheim Abendrot, 00000 Übungskommune",
			Insurer: "Deutsche Rentenversicherung Bund", InsurerRef: "12 020541 G 007"}},
		{name: "antragsquittung", sign: true, cert: AusweisQuittung{Issue: is, Person: p, Received: issued, FeeCents: 4600, Payment: "Mit Karte bezahlt"}},
		{name: "anmeldeformular", cert: Formular{Issue: is, Title: "Anmeldung einer Wohnung", Signer: "meldepflichtigen Person",
			Fields: []Field{{"Familienname", p.FamilyName}, {"Vornamen", p.GivenNames}}}},
	}
	number := CaseNumber(id.String())
	require.Regexp(t, `^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`, number)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "doc.pdf")
			require.NoError(t, os.WriteFile(file, renderPDF(t, tt.cert), 0o600))
			text := pdfTool(t, "pdftotext", "-layout", "-enc", "UTF-8", file, "-")
			flat := strings.Join(strings.Fields(text), " ")

			assert.NotRegexp(t, `(?m)^\s*, den`, text)
			assert.NotContains(t, flat, "der Deutsche")
			assert.NotContains(t, flat, id.String(), "the long id is for the DataMatrix only")
			assert.Contains(t, flat, "Vorgang "+number)
			assert.Contains(t, flat, "SCHULUNG")
			assert.Contains(t, flat, "Übungskommune")
			assert.NotContains(t, flat, "–:", "no empty field")
			if tt.sign {
				assert.Contains(t, flat, "Übungskommune, den 14.03.2026")
				assert.Contains(t, flat, "Im Auftrag Bernd Muster")
			} else {
				assert.NotContains(t, flat, "Im Auftrag")
				assert.Contains(t, flat, "Unterschrift der meldepflichtigen Person")
			}
			if tt.melde != nil {
				var labels []string
				for _, m := range fieldLine.FindAllStringSubmatch(text, -1) {
					labels = append(labels, m[1])
				}
				assert.Equal(t, tt.melde, labels, "§ 24 Abs. 2 BMG: only these data")
			}
		})
	}
}

func TestMeldebestaetigung24IsTheStatute(t *testing.T) {
	var labels []string
	for i, d := range Meldebestaetigung24 {
		labels = append(labels, d.Label)
		assert.True(t, strings.HasSuffix(d.Law, "Nr. "+string(rune('1'+i))+" BMG"), d.Law)
	}
	assert.Equal(t, want24, labels)
}

// Without a place the date line names none; it never starts with ", den".
func TestDateLineWithoutPlace(t *testing.T) {
	is := issue
	is.Place = ""
	assert.Equal(t, "Ausgestellt am 14.03.2026", is.dateLine())
	is.Place = "Müßingen"
	assert.Equal(t, "Müßingen, den 14.03.2026", is.dateLine())
}

func TestCaseNumber(t *testing.T) {
	// 0195f3a2-7c4e-7b1a: low 28 bits of the ms timestamp 0x3a27c4e, rand_a 0xb1a.
	assert.Equal(t, "78KW-9TRT", CaseNumber("0195f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e"))
	// Ids that are no UUIDv7 still get a stable number of the same form.
	v4 := "3f0b6a9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	assert.Equal(t, CaseNumber(v4), CaseNumber(v4))
	assert.Regexp(t, `^[0-9A-Z]{4}-[0-9A-Z]{4}$`, CaseNumber(v4))
	assert.NotEqual(t, CaseNumber(v4), CaseNumber("kein-uuid"))

	// One agent's ids: distinct numbers, guaranteed by the generator's monotonic sequence.
	seen := make(map[string]string, 50000)
	for range 50000 {
		id, err := uuid.NewV7()
		require.NoError(t, err)
		n := CaseNumber(id.String())
		prev, dup := seen[n]
		require.False(t, dup, "%s and %s share %s", prev, id, n)
		seen[n] = id.String()
	}
}

func TestParseCaseNumber(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"78KW-9TRT", "78KW-9TRT", true},
		{"78kw 9trt", "78KW-9TRT", true},
		{"78KW9TRT", "78KW-9TRT", true},
		{"I8KW-9TRO", "18KW-9TR0", true}, // look-alikes read as digits
		{"78KW-9TR", "", false},
		{"78KW-9TRU", "", false}, // U is not in the alphabet
		{"", "", false},
	} {
		got, ok := ParseCaseNumber(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}
