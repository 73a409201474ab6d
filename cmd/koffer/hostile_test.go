package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/client"
	"koffer/store"
)

// hostileCase copies the valid Wohnsitzanmeldung (scan.pdf, signature.png) into a fresh folder
// and returns the path of its case.json.
func hostileCase(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "case")
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../testdata/cases/valid/wohnsitzanmeldung")))
	return filepath.Join(dir, "case.json")
}

func replaceFile(t *testing.T, name string, make func(string) error) {
	t.Helper()
	require.NoError(t, os.Remove(name))
	require.NoError(t, make(name))
}

func editCase(t *testing.T, file string, edit func(string) string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, []byte(edit(string(raw))), 0o600))
}

// TestHostileCaseFiles submits case files that try to smuggle in outside files, hang the CLI,
// exhaust its memory, or say two things at once. Each is refused within 5 s with a message that
// names the field, and the store is unchanged.
func TestHostileCaseFiles(t *testing.T) {
	f, out, errOut := dataFactory(t)
	startAgent(t, f)

	// A real case under a fixed id, for the conflicting --id row.
	const usedID = "01900000-0000-7000-8000-0000000000aa"
	require.Equal(t, exitOK, run(t.Context(), []string{"--data", f.DataDir, "case", "submit", "--id", usedID,
		"../../testdata/cases/valid/wohnsitzanmeldung/case.json"}, f), errOut.String())

	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.pdf")
	require.NoError(t, os.WriteFile(secret, []byte("%PDF-1.4 secret from outside the case folder"), 0o600))

	tests := []struct {
		name   string
		setup  func(t *testing.T, caseFile string) (args []string)
		field  string
		code   string
		asRoot bool
	}{
		{name: "symlink file", field: "attachments[0].file", code: "outside-folder", setup: func(t *testing.T, cf string) []string {
			replaceFile(t, filepath.Join(filepath.Dir(cf), "scan.pdf"), func(n string) error { return os.Symlink(secret, n) })
			return nil
		}},
		{name: "symlink directory", field: "attachments[0].file", code: "outside-folder", setup: func(t *testing.T, cf string) []string {
			require.NoError(t, os.Symlink(outside, filepath.Join(filepath.Dir(cf), "docs")))
			editCase(t, cf, func(s string) string { return strings.Replace(s, `"scan.pdf"`, `"docs/secret.pdf"`, 1) })
			return nil
		}},
		{name: "FIFO", field: "attachments[0].file", code: "not-regular", setup: func(t *testing.T, cf string) []string {
			replaceFile(t, filepath.Join(filepath.Dir(cf), "scan.pdf"), func(n string) error { return syscall.Mkfifo(n, 0o600) })
			return nil
		}},
		{name: "symlink to /dev/zero", field: "attachments[0].file", code: "outside-folder", setup: func(t *testing.T, cf string) []string {
			replaceFile(t, filepath.Join(filepath.Dir(cf), "scan.pdf"), func(n string) error { return os.Symlink("/dev/zero", n) })
			return nil
		}},
		{name: "device node", field: "attachments[0].file", code: "not-regular", asRoot: true, setup: func(t *testing.T, cf string) []string {
			// The same device as /dev/zero (char 1,5), made inside the case folder.
			replaceFile(t, filepath.Join(filepath.Dir(cf), "scan.pdf"), func(n string) error {
				return syscall.Mknod(n, syscall.S_IFCHR|0o600, 1<<8|5)
			})
			return nil
		}},
		{name: "duplicate key", field: "person.family_name", code: "duplicate-key", setup: func(t *testing.T, cf string) []string {
			editCase(t, cf, func(s string) string {
				return strings.Replace(s, `"family_name": "Rabensteiner",`, `"family_name": "Rabensteiner", "family_name": "Other",`, 1)
			})
			return nil
		}},
		{name: "duplicate key differing in case", field: "person.address.City", code: "duplicate-key", setup: func(t *testing.T, cf string) []string {
			editCase(t, cf, func(s string) string {
				return strings.Replace(s, `"city": "Kassel"`, `"city": "Kassel", "City": "Fulda"`, 1)
			})
			return nil
		}},
		{name: "byte order mark", field: "(file)", code: "bom", setup: func(t *testing.T, cf string) []string {
			editCase(t, cf, func(s string) string { return "\uFEFF" + s })
			return nil
		}},
		{name: "conflicting id", field: "id", code: "id-conflict", setup: func(t *testing.T, cf string) []string {
			editCase(t, cf, func(s string) string { return strings.Replace(s, `"7a"`, `"9"`, 1) })
			return []string{"--id", usedID}
		}},
		{name: "oversized case file", field: "(file)", code: "too-large", setup: func(t *testing.T, cf string) []string {
			require.NoError(t, os.Truncate(cf, 200<<20)) // sparse: costs no disk, must not be read
			return nil
		}},
		{name: "case file is a FIFO", field: "(file)", code: "not-regular", setup: func(t *testing.T, cf string) []string {
			replaceFile(t, cf, func(n string) error { return syscall.Mkfifo(n, 0o600) })
			return nil
		}},
		{name: "oversized attachment", field: "attachments[0].file", code: "too-large", setup: func(t *testing.T, cf string) []string {
			require.NoError(t, os.Truncate(filepath.Join(filepath.Dir(cf), "scan.pdf"), 40<<20))
			return nil
		}},
	}
	c := client.New(f.DataDir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf := hostileCase(t)
			args := tt.setup(t, cf)
			if tt.asRoot && os.Geteuid() != 0 {
				t.Skip("making a device node needs root")
			}
			before, err := c.Queue(t.Context())
			require.NoError(t, err)
			pkts := packetFiles(t, f.DataDir)

			out.Reset()
			errOut.Reset()
			start := time.Now()
			code := run(t.Context(), append([]string{"--data", f.DataDir, "case", "submit", cf}, args...), f)
			took := time.Since(start)

			assert.Less(t, took, 5*time.Second)
			assert.Equal(t, exitError, code, errOut.String())
			assert.Empty(t, out.String(), "no case id printed")
			assert.Contains(t, errOut.String(), "  "+tt.field+": ")
			assert.Contains(t, errOut.String(), "["+tt.code+"]")
			assert.NotContains(t, errOut.String(), "Rabensteiner", "no personal data in the error")

			after, err := c.Queue(t.Context())
			require.NoError(t, err)
			assert.Equal(t, before, after, "store unchanged")
			assert.Equal(t, pkts, packetFiles(t, f.DataDir), "no packet written")
		})
	}

	// The retry with identical content stays idempotent.
	errOut.Reset()
	require.Equal(t, exitOK, run(t.Context(), []string{"--data", f.DataDir, "case", "submit", "--id", usedID,
		"../../testdata/cases/valid/wohnsitzanmeldung/case.json"}, f), errOut.String())
	assert.Contains(t, errOut.String(), "already submitted")
}

func packetFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dataDir, store.PacketsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
