package inventory

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/profile"
	"koffer/devices/usb/usbtest"
)

// TestTakeUmockdev lists the bus through libusb while umockdev replays recorded readers: each
// is classified by its real descriptors and satisfies a profile that expects it.
func TestTakeUmockdev(t *testing.T) {
	if usbtest.InChild() {
		t.Skip("parent side only")
	}
	for _, fx := range []struct{ dir, id string }{
		{"libfprint/upektc_img", "147e:2016"},
		{"libfprint/uru4000-4500", "05ba:000a"},
	} {
		t.Run(fx.dir, func(t *testing.T) {
			dir := usbtest.FixtureDir(t, fx.dir)
			out := t.TempDir()
			usbtest.RunUnderUmockdev(t, dir, "TestTakeChild", "KOFFER_REPLAY_OUT="+out, "KOFFER_EXPECT_ID="+fx.id)
			raw, err := os.ReadFile(filepath.Join(out, "inventory.json"))
			require.NoError(t, err)
			var inv Inventory
			require.NoError(t, json.Unmarshal(raw, &inv))
			readers := 0
			for _, d := range inv.USB {
				if d.ID == fx.id {
					readers++
					assert.Contains(t, d.Koffer, "fingerprint reader")
					assert.Equal(t, []devices.Kind{devices.Fingerprint}, d.Kinds)
				} else {
					assert.Equal(t, "unknown", d.Koffer, "the recorded hubs are nothing koffer uses")
				}
			}
			assert.Equal(t, 1, readers)
			require.Len(t, inv.Kinds, 1)
			assert.True(t, inv.Kinds[0].Satisfied)
		})
	}
}

func TestTakeChild(t *testing.T) {
	if !usbtest.InChild() {
		t.Skip("runs only under umockdev-run")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	prof, err := profile.Parse([]byte("[[device]]\nkind = \"fingerprint\"\nusb = \"" + os.Getenv("KOFFER_EXPECT_ID") + "\"\n"))
	require.NoError(t, err)
	require.Equal(t, devices.Fingerprint, prof.Devices[0].Kind)
	inv := Take(ctx, prof, Options{})
	raw, err := json.Marshal(inv)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(os.Getenv("KOFFER_REPLAY_OUT"), "inventory.json"), raw, 0o600))
}
