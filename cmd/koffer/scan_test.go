package main

import (
	"cmp"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/escl/escltest"
)

func TestScanFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     string
		want    scanOptions
		wantErr string
	}{
		{name: "defaults", args: []string{"--out", "a.pdf", "--scanner", "http://s/eSCL"},
			want: scanOptions{Out: "a.pdf", Source: "flatbed", Scanner: "http://s/eSCL", Timeout: 10 * time.Minute}},
		{name: "adf colour from env", args: []string{"--out", "a.pdf", "--source", "adf", "--color"}, env: "http://env/eSCL",
			want: scanOptions{Out: "a.pdf", Source: "adf", Color: true, Scanner: "http://env/eSCL", Timeout: 10 * time.Minute}},
		{name: "out missing", args: []string{"--scanner", "http://s/eSCL"}, wantErr: "--out is required"},
		{name: "bad source", args: []string{"--out", "a.pdf", "--source", "glass", "--scanner", "http://s"}, wantErr: "--source must be"},
		{name: "no scanner", args: []string{"--out", "a.pdf"}, wantErr: "no scanner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := testFactory(t)
			f.Getenv = func(k string) string {
				if k == "KOFFER_SCANNER" {
					return tt.env
				}
				return ""
			}
			var got *scanOptions
			cmd := newScanCmd(f, func(o *scanOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			got.f = nil
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestScanRun(t *testing.T) {
	tests := []struct {
		name    string
		b       escltest.Behaviour
		source  string
		pages   int
		wantErr string
		code    string
		cause   string // shown on the CLI, not only in a log
		path    string // of the scanner URL; default /eSCL
	}{
		{name: "flatbed", source: "flatbed", pages: 1},
		{name: "adf three pages", source: "adf", b: escltest.Behaviour{ADFPages: 3}, pages: 3},
		{name: "adf jam", source: "adf", b: escltest.Behaviour{ADFPages: 3, JamAfter: 1}, wantErr: "Papierstau", code: "scanner.adf-jam", cause: "after 1 pages"},
		{name: "wrong URL path", source: "flatbed", path: "/scan", wantErr: "Adresse", code: "scanner.not-escl", cause: "get capabilities: http 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := escltest.NewFromFixture(t, "Kyocera-ECOSYS-M2040dn", tt.b)
			hs := httptest.NewServer(srv)
			defer hs.Close()
			f, out, errOut := testFactory(t)
			path := filepath.Join(t.TempDir(), "scan.pdf")
			err := scanRun(t.Context(), &scanOptions{f: f, Out: path, Source: tt.source, Scanner: hs.URL + cmp.Or(tt.path, "/eSCL"), Timeout: 30 * time.Second})
			if tt.wantErr != "" {
				assert.ErrorIs(t, err, errSilent)
				assert.Contains(t, errOut.String(), tt.wantErr)
				assert.Contains(t, errOut.String(), tt.code)
				assert.Contains(t, errOut.String(), "Ursache: ")
				assert.Contains(t, errOut.String(), tt.cause)
				_, statErr := os.Stat(path)
				assert.True(t, os.IsNotExist(statErr), "no PDF after a jam")
				return
			}
			require.NoError(t, err)
			assert.Contains(t, out.String(), "gescannt: "+path)
			n, err := api.PageCountFile(path)
			require.NoError(t, err)
			assert.Equal(t, tt.pages, n)
		})
	}
}

func TestScanWiredInRoot(t *testing.T) {
	f, _, errOut := testFactory(t)
	got := run(t.Context(), []string{"scan", "--out", "x.pdf", "--scanner", "http://127.0.0.1:1/eSCL", "--timeout", "2s"}, f)
	assert.Equal(t, exitError, got)
	assert.Contains(t, errOut.String(), "scanner.unreachable")
}

func TestScanInterrupted(t *testing.T) {
	srv := escltest.NewFromFixture(t, "HP-LaserJet-MFP-M426fdn", escltest.Behaviour{Hang: true})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	f, _, errOut := testFactory(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	go func() {
		for srv.Requests("GET NextDocument") == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel() // Ctrl-C while the scanner is busy
	}()
	path := filepath.Join(t.TempDir(), "scan.pdf")
	got := run(ctx, []string{"scan", "--out", path, "--scanner", hs.URL + "/eSCL"}, f)
	assert.Equal(t, exitCancel, got)
	assert.Contains(t, errOut.String(), "abgebrochen")
	assert.Equal(t, 1, srv.Requests("DELETE Job"), "the job is deleted on the scanner")
	_, err := os.Stat(path)
	assert.True(t, os.IsNotExist(err))
}

// TestScanUSBWithoutDevice: with no IPP-over-USB scanner attached (this machine has no USB at
// all), scanning from usb ends with the scanner's code and German hint, and no file.
func TestScanUSBWithoutDevice(t *testing.T) {
	f, _, errOut := testFactory(t)
	out := filepath.Join(t.TempDir(), "scan.pdf")
	got := run(t.Context(), []string{"scan", "--scanner", "usb", "--out", out}, f)
	assert.Equal(t, exitError, got)
	assert.Regexp(t, `scanner\.usb-(not-found|unavailable)`, errOut.String())
	assert.Contains(t, errOut.String(), "Scan fehlgeschlagen")
	assert.NoFileExists(t, out)
}
