package main

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/fingerprint"
	"koffer/devices/sim"
	"koffer/devices/usb"
)

// failingReader fails every capture with err.
type failingReader struct{ err error }

var _ fingerReader = failingReader{}

func (r failingReader) Capture(context.Context) (*fingerprint.Image, error) { return nil, r.err }
func (failingReader) Close() error                                          { return nil }

func TestFingerCaptureRun(t *testing.T) {
	tests := []struct {
		name      string
		reader    fingerReader
		openErr   error
		readerArg string
		wantErr   error
		wantFile  bool
		wantOut   string
		wantErrS  string
		wantID    usb.ID
	}{
		{
			name: "writes the capture", reader: simFingerReader{sim.NewReader(sim.ReaderOptions{Seed: 5})},
			readerArg: "05ba:000a", wantID: usb.ID{Vendor: 0x05ba, Product: 0x000a},
			wantFile: true, wantOut: "quality",
		},
		{
			name:    "unplugged mid capture stores nothing",
			reader:  failingReader{fingerprint.Fail(fingerprint.CodeUnplugged, usb.ErrUnplugged)},
			wantErr: errSilent, wantErrS: "Der Fingerabdruckleser wurde getrennt",
		},
		{
			name:    "no reader attached",
			openErr: fingerprint.Failf(fingerprint.CodeNotFound, "none"),
			wantErr: errSilent, wantErrS: "fingerprint.not-found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, errOut := testFactory(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "finger.png")
			var gotID usb.ID
			opts := &fingerCaptureOptions{
				f: f, ctx: t.Context(), out: path, reader: tt.readerArg, timeout: 10 * time.Second,
				open: func(ctx context.Context, id usb.ID) (fingerReader, string, error) {
					gotID = id
					if tt.openErr != nil {
						return nil, "", tt.openErr
					}
					return tt.reader, "test reader", nil
				},
			}
			err := fingerCaptureRun(opts)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantID, gotID)
			assert.Contains(t, out.String(), tt.wantOut)
			assert.Contains(t, errOut.String(), tt.wantErrS)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			if !tt.wantFile {
				assert.Empty(t, entries, "a failed capture leaves no file, not even a temporary one")
				return
			}
			require.Len(t, entries, 1)
			st, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
			fh, err := os.Open(path)
			require.NoError(t, err)
			defer fh.Close()
			img, err := png.Decode(fh)
			require.NoError(t, err)
			assert.Equal(t, sim.ReaderWidth, img.Bounds().Dx())
			assert.Contains(t, out.String(), "Schätzung, kein NFIQ 2", "without NFIQ 2 the score says it is an estimate")
		})
	}
}

func TestFingerCommandLine(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    exitCode
		wantErr string
	}{
		{name: "out is required", args: []string{"finger", "capture"}, want: exitUsage, wantErr: "out"},
		{name: "bad reader id", args: []string{"finger", "capture", "--out", "x.png", "--reader", "nope"}, want: exitUsage, wantErr: "VID:PID"},
		{name: "training and reader exclude each other", args: []string{"finger", "capture", "--out", "x.png", "--training", "--reader", "147e:2016"}, want: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, errOut := testFactory(t)
			got := run(t.Context(), tt.args, f)
			assert.Equal(t, tt.want, got, errOut.String())
			assert.Contains(t, errOut.String(), tt.wantErr)
		})
	}
}

func TestFingerCaptureSim(t *testing.T) {
	f, out, errOut := testFactory(t)
	path := filepath.Join(t.TempDir(), "sim.png")
	got := run(t.Context(), []string{"finger", "capture", "--training", "--out", path}, f)
	require.Equal(t, exitOK, got, errOut.String())
	assert.Contains(t, out.String(), "simulated reader")
	assert.FileExists(t, path)
}
