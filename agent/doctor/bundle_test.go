package doctor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/sync/enroll"
)

func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[h.Name] = data
	}
}

func TestRedactTOML(t *testing.T) {
	in := `listen = "127.0.0.1:8765"
api_token = "tok-123"
[sim]
pin = "4711"
apn = "internet"
[[device]]
kind = "printer"
password = "hunter2"
note = """-----BEGIN PRIVATE KEY-----
abc
-----END PRIVATE KEY-----"""
`
	out, err := RedactTOML([]byte(in))
	require.NoError(t, err)
	s := string(out)
	for _, secret := range []string{"tok-123", "4711", "hunter2", "BEGIN PRIVATE"} {
		assert.NotContains(t, s, secret)
	}
	assert.Contains(t, s, "127.0.0.1:8765")
	assert.Contains(t, s, "internet")
	assert.Contains(t, s, "printer")
}

func TestBundleHoldsNoKeyMaterial(t *testing.T) {
	b, id, err := enroll.NewTraining("kit-bundle")
	require.NoError(t, err)
	kit := &keys.Kit{Bundle: b, Training: true, TownHall: id.String()}
	var buf bytes.Buffer
	require.NoError(t, Bundle{
		Version: "v1.2.3",
		Report:  Report{Status: Warn, Results: []Result{{Check: "disk", Status: Warn}}},
		Configs: map[string][]byte{"koffer.toml": []byte("listen = \"127.0.0.1:1\"\nsecret = \"" + id.String() + "\"\n"), "broken.toml": []byte("[[x")},
		Kit:     kit,
		Logs:    []byte("level=INFO msg=started\nlevel=INFO msg=oops key=" + id.String() + "\n"),
	}.Write(&buf))
	files := untar(t, buf.Bytes())
	for _, name := range []string{"version.txt", "doctor.json", "devices.json", "kit.json", "config/koffer.toml", "config/broken.toml", "logs.txt"} {
		assert.Contains(t, files, "koffer-support/"+name)
	}
	keyBody := strings.Split(b.KeyPEM, "\n")[1]
	for name, data := range files {
		for _, secret := range []string{"-----BEGIN", "AGE-SECRET-KEY", id.String(), keyBody} {
			assert.NotContains(t, string(data), secret, name)
		}
	}
	assert.Contains(t, string(files["koffer-support/kit.json"]), "kit-bundle")
	assert.Contains(t, string(files["koffer-support/logs.txt"]), "msg=started")
	assert.Contains(t, string(files["koffer-support/version.txt"]), "v1.2.3")
}

// FuzzRedactTOML feeds configuration files as a technician might have edited them: redaction
// never panics and what it writes is TOML again.
func FuzzRedactTOML(f *testing.F) {
	f.Add([]byte("listen = \"127.0.0.1:8765\"\napi_token = \"x\"\n[sim]\npin = \"1234\"\n"))
	f.Add([]byte("[[device]]\nkind = \"printer\"\nnote = [\"-----BEGIN X\", 1, {password = \"p\"}]\n"))
	f.Add([]byte("a = 1979-05-27T07:32:00Z\nb = [[1, 2], [\"AGE-SECRET-KEY-1\"]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := RedactTOML(data)
		if err != nil {
			return
		}
		if _, err := RedactTOML(out); err != nil {
			t.Fatalf("redacted output is no TOML: %v\n%s", err, out)
		}
	})
}
