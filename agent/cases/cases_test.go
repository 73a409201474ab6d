package cases

import (
	"errors"
	"os"
	"path/filepath"
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
		a, err := cf.Validate(applied)
		if err == nil {
			assert.GreaterOrEqual(t, a.Age, 0)
			assert.True(t, cf.Service.Valid())
		}
	})
}
