package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRedactByMeaning: credentials are found by what they are (URL userinfo, secret-named
// keys as words, key material), not by a substring of the key's name.
func TestRedactByMeaning(t *testing.T) {
	in := `printer = "ipps://admin:Geheim123@drucker.local:631/ipp/print"
scanner = "http://scan:ScanPass9@192.168.8.20/eSCL"
town_hall = "https://th.example/v1?access_token=T0K3N&kit=7"
authority_name = "Stadt Musterstadt – Bürgeramt"
keyboard_layout = "de"
api_key = "k-1"
scannerPassword = "pw-2"
`
	out, err := RedactTOML([]byte(in))
	require.NoError(t, err)
	s := string(out)
	for _, secret := range []string{"Geheim123", "ScanPass9", "T0K3N", "k-1", "pw-2"} {
		assert.NotContains(t, s, secret)
	}
	for _, kept := range []string{"Stadt Musterstadt – Bürgeramt", `keyboard_layout = "de"`, "drucker.local:631/ipp/print", "admin:REDACTED@", "kit=7"} {
		assert.Contains(t, s, kept)
	}

	logs := ScrubLogs([]byte("level=WARN msg=printerUnreachable uri=ipps://admin:Geheim123@drucker.local/ipp/print\nlevel=INFO msg=ok\n"))
	assert.NotContains(t, string(logs), "Geheim123")
	assert.Contains(t, string(logs), "ipps://REDACTED@drucker.local/ipp/print")
	assert.Contains(t, string(logs), "msg=ok")
}

func TestOpenFailureNamesTheCause(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
	}{
		{name: "no kit", err: &NoKitError{Dir: "/nope"}, code: "database.no-kit"},
		{name: "no permission", err: fmt.Errorf("database in /var/lib/koffer: %w", &fs.PathError{Op: "open", Path: "koffer.db", Err: fs.ErrPermission}), code: "database.permission"},
		{name: "no database", err: fmt.Errorf("no database: %w", fs.ErrNotExist), code: "database.missing"},
		{name: "damaged", err: errors.New("file is not a database"), code: "database.open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&Database{OpenErr: tt.err}).Run(t.Context())
			assert.Equal(t, Fail, r.Status)
			assert.Equal(t, tt.code, r.Code)
			if tt.code != "database.open" {
				assert.NotContains(t, r.HintDE, "beschädigt", "only a damaged database is called damaged")
			}
		})
	}
}

func TestHumanBytes(t *testing.T) {
	for in, want := range map[uint64]string{0: "0 B", 4 << 10: "4.0 KiB", 1536 << 20: "1.5 GiB", 300 << 20: "300.0 MiB"} {
		assert.Equal(t, want, humanBytes(in))
	}
}
