package cases

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var applied = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func loadCase(t *testing.T, dir string) (Assessment, error) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
	require.NoError(t, err)
	f, err := Parse(raw)
	if err != nil {
		return Assessment{}, err
	}
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	data, missing := ReadAttachments(t.Context(), root, f)
	return Check(f, applied, data, missing)
}

func TestValidExamples(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/cases/valid/*")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(dirs), 4)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			_, err := loadCase(t, dir)
			assert.NoError(t, err)
		})
	}
}

func TestInvalidExamples(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/cases/invalid/*")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "want"))
			require.NoError(t, err)
			w := strings.Fields(string(want))
			field, code := "", w[len(w)-1]
			if len(w) == 2 {
				field = w[0]
			}
			_, err = loadCase(t, dir)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			found := false
			for _, p := range ve.Problems {
				if p.Field == field && p.Code == code {
					found = true
					assert.NotEmpty(t, p.Hint, "a German hint for the caseworker")
				}
			}
			assert.True(t, found, "want %q %q in %v", field, code, ve.Problems)
		})
	}
}

func TestErrorsHoldNoPersonalData(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/cases/invalid/bad-birth-date/case.json")
	require.NoError(t, err)
	f, err := Parse(raw)
	require.NoError(t, err)
	_, err = f.Validate(applied)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "15.06.1941")
	assert.NotContains(t, err.Error(), f.Person.FamilyName)
}

func TestRegistrationLate(t *testing.T) {
	tests := []struct {
		name    string
		movedIn string
		want    bool
	}{
		{name: "same day", movedIn: "2026-03-02", want: false},
		{name: "day 14", movedIn: "2026-02-16", want: false},
		{name: "day 15", movedIn: "2026-02-15", want: true},
		{name: "a year", movedIn: "2025-03-02", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := time.Parse(time.DateOnly, tt.movedIn)
			require.NoError(t, err)
			assert.Equal(t, tt.want, RegistrationLate(m, applied))
		})
	}
}

func TestLateRegistrationIsAcceptedAndFlagged(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/cases/valid/wohnsitzanmeldung/case.json")
	require.NoError(t, err)
	f, err := Parse(raw)
	require.NoError(t, err)
	a, err := f.Validate(time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)) // moved in 2026-02-20: day 15
	require.NoError(t, err)
	assert.True(t, a.Late)
	a, err = f.Validate(time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.False(t, a.Late)
}

func TestIDCardFee(t *testing.T) {
	tests := []struct {
		name        string
		applied     time.Time
		age         int
		provisional bool
		want        string
	}{
		{name: "adult now", applied: day(2026, 2, 7), age: 24, want: "46,00 EUR"},
		{name: "young now", applied: day(2026, 2, 7), age: 23, want: "27,60 EUR"},
		{name: "young the day before", applied: day(2026, 2, 6), age: 23, want: "22,80 EUR"},
		{name: "adult 2024", applied: day(2024, 6, 1), age: 40, want: "37,00 EUR"},
		{name: "provisional", applied: day(2026, 3, 1), age: 80, provisional: true, want: "10,00 EUR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := IDCardFee(tt.applied, tt.age, tt.provisional)
			require.True(t, ok)
			assert.Equal(t, tt.want, f.String())
		})
	}
	_, ok := IDCardFee(day(2000, 1, 1), 30, false)
	assert.False(t, ok, "no fee before the table starts")
}

func TestAge(t *testing.T) {
	b := day(2004, 2, 29)
	assert.Equal(t, 21, Age(b, day(2026, 2, 28)))
	assert.Equal(t, 22, Age(b, day(2026, 3, 1)))
}

func TestFingers(t *testing.T) {
	tests := []struct {
		name   string
		finger string
		little bool
		ok     bool
	}{
		{name: "index", finger: "right_index", ok: true},
		{name: "ring", finger: "left_ring", ok: true},
		{name: "little", finger: "left_little", little: true, ok: true},
		{name: "no hand", finger: "index"},
		{name: "toe", finger: "left_toe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, little, ok := ParseFinger(tt.finger)
			assert.Equal(t, tt.little, little)
			assert.Equal(t, tt.ok, ok)
		})
	}
	assert.Equal(t, []string{"left_index", "left_thumb", "left_middle", "left_ring"}, Fallbacks("left"))
	for _, k := range FingerOrder {
		assert.Contains(t, NFIQThreshold, k)
	}
}

func TestMove(t *testing.T) {
	legal := map[[2]State]bool{
		{Draft, Sealed}: true, {Draft, Cancelled}: true, {Sealed, Uploading}: true,
		{Sealed, Delivered}: true, {Uploading, Delivered}: true, {Delivered, Purged}: true,
	}
	for _, from := range States {
		for _, to := range States {
			err := Move(from, to)
			if legal[[2]State{from, to}] {
				assert.NoError(t, err, "%s -> %s", from, to)
			} else {
				assert.True(t, errors.Is(err, ErrIllegalMove), "%s -> %s", from, to)
			}
		}
	}
}

func TestCheckAttachment(t *testing.T) {
	tests := []struct {
		name string
		kind string
		data []byte
		ok   bool
	}{
		{name: "pdf scan", kind: KindScan, data: []byte("%PDF-1.7 ..."), ok: true},
		{name: "png as fingerprint", kind: KindFingerprint, data: []byte("\x89PNG\r\n\x1a\nrest"), ok: true},
		{name: "pdf as fingerprint", kind: KindFingerprint, data: []byte("%PDF-1.7")},
		{name: "empty", kind: KindPhoto, data: []byte{}},
		{name: "text as signature", kind: KindSignature, data: []byte("hello")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAttachment("attachments[0].file", tt.kind, tt.data)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, "attachments[0].file")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/cases/*/*/case.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"service":"personalausweis"} {}`))
	f.Add([]byte("\xEF\xBB\xBF{}"))
	f.Add([]byte(`{"person":{"family_name":"a","Family_Name":"b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.NotEmpty(t, ve.Problems)
			return
		}
		cf.Complete() // runs on outside input before the seal's Check
		a, err := cf.Validate(applied)
		if err == nil {
			assert.GreaterOrEqual(t, a.Age, 0)
			assert.True(t, cf.Service.Valid())
		}
	})
}

// FuzzSet: a value posted by a form for any path is stored or refused with a problem, never a
// panic, and the case file it makes can be checked and completed.
func FuzzSet(f *testing.F) {
	f.Add(0, "Muster")
	f.Add(7, "   ")
	f.Add(11, "abc")
	f.Add(-3, "1950-13-45")
	ps := Paths()
	f.Fuzz(func(t *testing.T, i int, v string) {
		p := ps[(i%len(ps)+len(ps))%len(ps)]
		for _, s := range Services {
			file := &File{Service: s}
			if err := file.Set(p, v); err != nil {
				var ve *ValidationError
				require.ErrorAs(t, err, &ve)
				continue
			}
			file.Complete()
			_, _ = file.Validate(applied)
		}
	})
}

// TestSignatureRules: a signature, or a waiver with its reason, as SignatureRules say by age.
func TestSignatureRules(t *testing.T) {
	sig := Attachment{Kind: KindSignature, File: "s.png"}
	scan := Attachment{Kind: KindScan, File: "scan.pdf"}
	waiver := &Waiver{Reason: "kann nicht schreiben"}
	base := func(s Service, birth string) *File {
		f := &File{Service: s, Person: Person{FamilyName: "A", GivenNames: "B", BirthDate: birth, BirthPlace: "C", Nationality: "DEU",
			Address: Address{Street: "S", HouseNumber: "1", PostalCode: "12345", City: "X"}}}
		if s == Wohnsitzanmeldung {
			f.Details.MoveInDate = "2026-02-28"
			f.Details.Meldeschein = &Meldeschein{Sex: "male", MaritalStatus: "single", Dwelling: "sole",
				IDDocuments: []IDDocument{{Kind: "reisepass", Number: "C01X00T47", Authority: "Stadt X", Issued: "2020-01-01", ValidUntil: "2030-01-01"}}}
			f.Attachments = []Attachment{scan}
		} else {
			f.Details = Details{HeightCM: 120, EyeColor: "blau", PhotoCode: "DM", FingerprintsImpossible: true}
		}
		return f
	}
	tests := []struct {
		name  string
		file  func() *File
		field string // "" = valid
		code  string
	}{
		{name: "registration signed", file: func() *File {
			f := base(Wohnsitzanmeldung, "1950-01-01")
			f.Attachments = append(f.Attachments, sig)
			return f
		}},
		{name: "registration waived", file: func() *File { f := base(Wohnsitzanmeldung, "1950-01-01"); f.Details.SignatureWaiver = waiver; return f }},
		{name: "registration neither", file: func() *File { return base(Wohnsitzanmeldung, "1950-01-01") }, field: "attachments", code: "signature-missing"},
		{name: "waiver without reason", file: func() *File {
			f := base(Wohnsitzanmeldung, "1950-01-01")
			f.Details.SignatureWaiver = &Waiver{}
			return f
		}, field: "details.signature_waiver.reason", code: "required"},
		{name: "waiver and signature", file: func() *File {
			f := base(Wohnsitzanmeldung, "1950-01-01")
			f.Details.SignatureWaiver, f.Attachments = waiver, append(f.Attachments, sig)
			return f
		}, field: "details.signature_waiver", code: "contradiction"},
		{name: "id card at 9 needs none", file: func() *File { return base(Personalausweis, "2016-06-01") }},
		{name: "id card at 10 needs one", file: func() *File { return base(Personalausweis, "2016-01-01") }, field: "attachments", code: "signature-missing"},
		{name: "id card at 10 waived", file: func() *File { f := base(Personalausweis, "2016-01-01"); f.Details.SignatureWaiver = waiver; return f }},
		{name: "no waiver for a life certificate", file: func() *File {
			f := &File{Service: Lebensbescheinigung, Details: Details{SignatureWaiver: waiver}}
			return f
		}, field: "details.signature_waiver", code: "not-for-service"},
		{name: "unknown payment", file: func() *File {
			f := base(Wohnsitzanmeldung, "1950-01-01")
			f.Details.SignatureWaiver, f.Details.Payment = waiver, "bitcoin"
			return f
		}, field: "details.payment", code: "payment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.file().Validate(applied)
			if tt.field == "" && tt.code == "" {
				assert.NoError(t, err)
				return
			}
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.True(t, slices.ContainsFunc(ve.Problems, func(p Problem) bool { return p.Field == tt.field && p.Code == tt.code }),
				"want %s %s in %v", tt.field, tt.code, ve.Problems)
		})
	}
}

// TestPathsRoundTrip: every path a form may fill reads back what was set.
func TestPathsRoundTrip(t *testing.T) {
	for _, p := range Paths() {
		t.Run(p, func(t *testing.T) {
			f := &File{}
			v := "x-" + p
			switch {
			case p == "details.height_cm":
				v = "172"
			case p == "details.extended":
				v = "extended"
			case strings.HasPrefix(p, "details.confirmations."):
				v = "yes"
			case p == "person.nationality":
				v = "DEU"
			case strings.HasSuffix(p, ".other_nationalities"):
				v = "POL, UKR"
			}
			require.NoError(t, f.Set(p, v))
			assert.Equal(t, v, f.Get(p))
		})
	}
	assert.Error(t, (&File{}).Set("person.shoe_size", "44"))
}

// Every payment method has the German label the form offers and the receipt prints.
func TestPaymentLabels(t *testing.T) {
	require.Len(t, PaymentLabels, len(PaymentMethods))
	for _, m := range PaymentMethods {
		assert.NotEmpty(t, PaymentLabels[m], m)
	}
}
