package doctor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/usb/usbtest"
)

// TestFingerprintCheckUmockdev runs the reader check on the real USB path (libusb) while
// umockdev replays a recorded UPEK TouchChip: discovered, opened, closed.
func TestFingerprintCheckUmockdev(t *testing.T) {
	if usbtest.InChild() {
		t.Skip("parent side only")
	}
	dir := usbtest.FixtureDir(t, "libfprint/upektc_img")
	out := t.TempDir()
	usbtest.RunUnderUmockdev(t, dir, "TestFingerprintCheckChild", "KOFFER_REPLAY_OUT="+out)
	raw, err := os.ReadFile(filepath.Join(out, "result.json"))
	require.NoError(t, err)
	var r Result
	require.NoError(t, json.Unmarshal(raw, &r))
	assert.Equal(t, OK, r.Status, "%s %s", r.Code, r.Value)
	assert.Contains(t, r.Value, "147e:2016")
	assert.Contains(t, r.Value, "opens")
}

func TestFingerprintCheckChild(t *testing.T) {
	if !usbtest.InChild() {
		t.Skip("runs only under umockdev-run")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rep := Run(ctx, []Check{&Fingerprint{Open: OpenUSBReader}}, Options{Timeout: 20 * time.Second})
	raw, err := json.Marshal(rep.Results[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(os.Getenv("KOFFER_REPLAY_OUT"), "result.json"), raw, 0o600))
}
