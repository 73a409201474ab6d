package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/escl/escltest"
)

func TestScanRun(t *testing.T) {
	api.DisableConfigDir()
	tests := []struct {
		name     string
		opts     escltest.Options
		source   string
		color    bool
		training bool
		pages    int
		wantOut  string
		wantErr  string
	}{
		{name: "flatbed grey", pages: 1, wantOut: "scanned 1 page(s), 300 dpi grey"},
		{name: "feeder colour", opts: escltest.Options{ADFPages: 3}, source: "adf", color: true, pages: 3, wantOut: "scanned 3 page(s), 300 dpi colour"},
		{name: "training", training: true, source: "adf", pages: 3, wantOut: "scanned 3 page(s)"},
		{name: "jam", opts: escltest.Options{ADFPages: 3, JamAfter: 1}, source: "adf", wantErr: "scanner.jam"},
		{name: "feeder empty", source: "adf", wantErr: "Papier in den Einzug legen und auf Weiter tippen."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, errOut := testFactory(t)
			o := &scanOptions{f: f, ctx: t.Context(), out: filepath.Join(t.TempDir(), "scan.pdf"),
				source: tt.source, color: tt.color, training: tt.training}
			if !tt.training {
				opts := tt.opts
				opts.Capabilities = escltest.Fixture(t, "HP-LaserJet-MFP-M426fdn-ScannerCapabilities.xml")
				o.scanner = escltest.New(t, opts).BaseURL()
			}
			err := scanRun(o)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, errSilent)
				assert.Contains(t, errOut.String(), tt.wantErr)
				_, statErr := os.Stat(o.out)
				assert.ErrorIs(t, statErr, os.ErrNotExist, "no PDF after a failed scan")
				return
			}
			require.NoError(t, err)
			assert.Contains(t, out.String(), tt.wantOut)
			n, err := api.PageCountFile(o.out)
			require.NoError(t, err)
			assert.Equal(t, tt.pages, n)
			st, err := os.Stat(o.out)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "scans are personal data")
		})
	}
}

func TestScanCommandLine(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    exitCode
		wantErr string
	}{
		{name: "no out", args: []string{"scan", "--training"}, want: exitUsage, wantErr: "--out FILE.pdf is required"},
		{name: "bad source", args: []string{"scan", "--out", "x.pdf", "--source", "tray", "--training"}, want: exitUsage, wantErr: "want flatbed or adf"},
		{name: "no scanner", args: []string{"scan", "--out", "x.pdf"}, want: exitUsage, wantErr: "no scanner"},
		{name: "both", args: []string{"scan", "--out", "x.pdf", "--training", "--scanner", "h"}, want: exitUsage, wantErr: "exclude each other"},
		{name: "unreachable", args: []string{"scan", "--out", "x.pdf", "--scanner", "http://127.0.0.1:1/eSCL"}, want: exitError, wantErr: "scanner.unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, errOut := testFactory(t)
			t.Chdir(t.TempDir())
			assert.Equal(t, tt.want, run(t.Context(), tt.args, f))
			assert.Contains(t, errOut.String(), tt.wantErr)
		})
	}
}

func TestScannerBaseURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "host", in: "192.168.1.20", want: "http://192.168.1.20/eSCL"},
		{name: "host and port", in: "scanner.local:8080", want: "http://scanner.local:8080/eSCL"},
		{name: "full", in: "https://h/eSCL/", want: "https://h/eSCL"},
		{name: "other root", in: "http://h/scan", want: "http://h/scan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scannerBaseURL(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := scannerBaseURL("ftp://h")
	assert.Error(t, err)
}
