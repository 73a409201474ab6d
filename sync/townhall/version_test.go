package townhall

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"koffer/sync/receipt"
)

func TestKitVersionHeader(t *testing.T) {
	tests := []struct{ name, header, want string }{
		{name: "release", header: "1.4.0", want: "1.4.0"},
		{name: "make build", header: "0.0.0+git4eb3bbebc192", want: "0.0.0+git4eb3bbebc192"},
		{name: "none", header: "", want: ""},
		{name: "too long", header: strings.Repeat("1", 65), want: ""},
		{name: "markup", header: "1.0 <b>", want: ""},
		{name: "control", header: "1.0\x7f", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/audit", nil)
			r.Header.Set(receipt.VersionHeader, tt.header)
			assert.Equal(t, tt.want, kitVersion(r))
		})
	}
}

// FuzzKitVersionHeader: whatever a kit sends, the town hall keeps it unchanged or not at all,
// and what it keeps is short printable ASCII.
func FuzzKitVersionHeader(f *testing.F) {
	f.Add("1.4.0")
	f.Add("0.0.0+git4eb3bbebc192")
	f.Add("1.0 <b>")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("POST", "/v1/audit", nil)
		r.Header[receipt.VersionHeader] = []string{v}
		got := kitVersion(r)
		if got == "" {
			return
		}
		if got != v || len(got) > 64 || strings.ContainsFunc(got, func(c rune) bool { return c < '!' || c > '~' }) {
			t.Fatalf("kept %q from %q", got, v)
		}
	})
}
