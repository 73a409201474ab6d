package usb_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/usb"
	"koffer/devices/usb/usbtest"
)

// TestEnumerateUmockdev lists the devices of a recorded machine (a UPEK reader behind two
// hubs) through libusb under umockdev-run.
func TestEnumerateUmockdev(t *testing.T) {
	if usbtest.InChild() {
		t.Skip("parent side only")
	}
	dir := usbtest.FixtureDir(t, "libfprint/upektc_img")
	out := filepath.Join(t.TempDir(), "devices.json")
	usbtest.RunUnderUmockdev(t, dir, "TestEnumerateChild", "KOFFER_ENUM_OUT="+out)
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var infos []usb.DeviceInfo
	require.NoError(t, json.Unmarshal(raw, &infos))
	var reader *usb.DeviceInfo
	for i := range infos {
		if infos[i].ID == (usb.ID{Vendor: 0x147e, Product: 0x2016}) {
			reader = &infos[i]
		}
	}
	require.NotNil(t, reader, "reader not enumerated: %+v", infos)
	assert.Equal(t, 1, reader.Bus)
	assert.Equal(t, 3, reader.Address)
	assert.Equal(t, uint16(0x0002), reader.Release, "bcdDevice from the descriptor")
	assert.True(t, reader.HasInterfaceClass(0xff, 0, 0), "%+v", reader.Interfaces)
	assert.GreaterOrEqual(t, len(infos), 2, "hubs of the recording are listed too")
}

func TestEnumerateChild(t *testing.T) {
	if !usbtest.InChild() {
		t.Skip("runs only under umockdev-run (see TestEnumerateUmockdev)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	infos, err := usb.Enumerate(ctx, usb.EnumerateOptions{})
	require.NoError(t, err)
	raw, err := json.Marshal(infos)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(os.Getenv("KOFFER_ENUM_OUT"), raw, 0o600))
}
