package doctor

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"koffer/agent/keys"
)

// Bundle is what a technician sends to the developers: everything needed to understand a kit's
// trouble and nothing about a citizen or a key. It holds no database, no packet, no blob.
type Bundle struct {
	Version   string
	Report    Report
	Inventory any               // devices, as `koffer devices --json` prints them
	Configs   map[string][]byte // file name → TOML content; secrets are redacted on write
	Kit       *keys.Kit         // summarised: id, URL, mode, certificate expiry (no key, no PEM)
	Logs      []byte            // recent agent logs; lines with key material are dropped
	Now       time.Time
}

// secretWords are the words of a configuration key that make its value a secret. Keys are
// split into words, so "printer_password" and "apiKey" are secrets and "authority_name" is not:
// redaction goes by meaning, never by substring.
var secretWords = map[string]bool{
	"password": true, "passwd": true, "pass": true, "passphrase": true, "pwd": true, "pin": true,
	"secret": true, "token": true, "key": true, "apikey": true, "credential": true, "credentials": true,
	"authorization": true, "cookie": true, "psk": true,
}

// wordRE splits a key into words at underscores, dashes, dots and lower-to-upper case changes.
var wordRE = regexp.MustCompile(`[A-Z]?[a-z0-9]+|[A-Z]+`)

// secretKey reports whether a configuration key names a secret.
func secretKey(k string) bool {
	for _, w := range wordRE.FindAllString(k, -1) {
		if secretWords[strings.ToLower(w)] {
			return true
		}
	}
	return false
}

// secretValue matches values that are key material whatever their key is called.
var secretValue = regexp.MustCompile(`(?s)-----BEGIN|AGE-SECRET-KEY-`)

const redacted = "[redacted]"

// redactURL hides the credentials a URL carries: the password of its userinfo (the user name
// stays, it helps the technician) and query parameters whose names are secrets. s is returned
// unchanged if it is not such a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return s
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		} else {
			u.User = url.User("REDACTED") // a lone userinfo is often a token
		}
		changed = true
	}
	if q := u.Query(); len(q) > 0 {
		for k := range q {
			if secretKey(k) {
				q.Set(k, "REDACTED")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return s
	}
	return u.String()
}

// userinfoRE finds URL credentials inside free text (log lines).
var userinfoRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@`)

// RedactText hides URL credentials in free text (a log line, an error shown on the CLI).
func RedactText(s string) string { return userinfoRE.ReplaceAllString(s, "${1}REDACTED@") }

// RedactTOML re-encodes a TOML document with the values of secret-looking keys (and any value
// holding key material) replaced.
func RedactTOML(data []byte) ([]byte, error) {
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	redactMap(m)
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(m); err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	return buf.Bytes(), nil
}

func redactMap(m map[string]any) {
	for k, v := range m {
		if secretKey(k) {
			m[k] = redacted
			continue
		}
		m[k] = redactValue(v)
	}
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		redactMap(x)
	case []map[string]any:
		for _, e := range x {
			redactMap(e)
		}
	case []any:
		for i := range x {
			x[i] = redactValue(x[i])
		}
	case string:
		if secretValue.MatchString(x) {
			return redacted
		}
		return redactURL(x)
	}
	return v
}

// ScrubLogs drops every log line that holds key material and hides URL credentials.
func ScrubLogs(logs []byte) []byte {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(logs))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if secretValue.Match(sc.Bytes()) {
			continue
		}
		out.WriteString(RedactText(sc.Text()))
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// Write writes the bundle as a gzipped tar.
func (b Bundle) Write(w io.Writer) error {
	if b.Now.IsZero() {
		b.Now = time.Now()
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	add := func(name string, data []byte) error {
		hdr := &tar.Header{Name: "koffer-support/" + name, Mode: 0o600, Size: int64(len(data)), ModTime: b.Now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	js := func(v any) []byte {
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return []byte(fmt.Sprintf("{\"error\": %q}\n", err.Error()))
		}
		return append(out, '\n')
	}
	files := []struct {
		name string
		data []byte
	}{
		{"version.txt", []byte(b.Version + "\n")},
		{"doctor.json", js(b.Report)},
		{"devices.json", js(b.Inventory)},
		{"kit.json", js(kitSummary(b.Kit))},
	}
	for name, data := range b.Configs {
		red, err := RedactTOML(data)
		if err != nil {
			red = []byte("# not valid TOML; omitted: " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n")
			if secretValue.Match(red) {
				red = []byte("# not valid TOML; omitted\n")
			}
		}
		files = append(files, struct {
			name string
			data []byte
		}{"config/" + name, red})
	}
	if len(b.Logs) > 0 {
		files = append(files, struct {
			name string
			data []byte
		}{"logs.txt", ScrubLogs(b.Logs)})
	}
	for _, f := range files {
		if err := add(f.name, f.data); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

type kitInfo struct {
	Present      bool      `json:"present"`
	KitID        string    `json:"kit_id,omitempty"`
	URL          string    `json:"url,omitempty"`
	Training     bool      `json:"training,omitempty"`
	CertNotAfter time.Time `json:"cert_not_after,omitzero"`
}

func kitSummary(k *keys.Kit) kitInfo {
	if k == nil || k.Bundle == nil {
		return kitInfo{}
	}
	info := kitInfo{Present: true, KitID: k.Bundle.KitID, URL: k.Bundle.URL, Training: k.Training}
	info.CertNotAfter, _ = k.Bundle.CertNotAfter()
	return info
}
