package usbreader

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/fingerprint"
	"koffer/devices/usb"
	"koffer/devices/usb/usbtest"
)

func TestModels(t *testing.T) {
	ms := Models()
	ids := map[usb.ID]string{}
	for _, m := range ms {
		_, dup := ids[m.ID]
		assert.False(t, dup, "model %s listed twice", m.ID)
		ids[m.ID] = m.Family
	}
	assert.Equal(t, "upektc", ids[usb.ID{Vendor: 0x147e, Product: 0x2016}])
	assert.Equal(t, "upektc", ids[usb.ID{Vendor: 0x147e, Product: 0x2020}])
	assert.Equal(t, "uru4000", ids[usb.ID{Vendor: 0x05ba, Product: 0x000a}])
	assert.Equal(t, "uru4000", ids[usb.ID{Vendor: 0x045e, Product: 0x00ca}])
	_, ok := Lookup(usb.ID{Vendor: 0x1234, Product: 0x5678}, 0)
	assert.False(t, ok)
	_, ok = Lookup(usb.ID{Vendor: 0x147e, Product: 0x2016}, 0x0002)
	assert.True(t, ok, "TouchChip 2016 release 0002 is the Ciao image protocol")
	_, ok = Lookup(usb.ID{Vendor: 0x147e, Product: 0x2016}, 0x0001)
	assert.False(t, ok, "other firmware releases speak another protocol")
	_, ok = Lookup(usb.ID{Vendor: 0x05ba, Product: 0x000a}, 0x0103)
	assert.True(t, ok, "U.are.U models match any release")
}

// TestDiscoverAndCaptureUmockdev discovers the recorded UPEK reader, opens it without being
// told its id and captures: the way `koffer finger capture` does it.
func TestDiscoverAndCaptureUmockdev(t *testing.T) {
	if usbtest.InChild() {
		t.Skip("parent side only")
	}
	dir := usbtest.FixtureDir(t, "libfprint/upektc_img")
	out := t.TempDir()
	usbtest.RunUnderUmockdev(t, dir, "TestDiscoverChild", "KOFFER_REPLAY_OUT="+out)
	raw, err := os.ReadFile(filepath.Join(out, "found.json"))
	require.NoError(t, err)
	var found []Found
	require.NoError(t, json.Unmarshal(raw, &found))
	require.Len(t, found, 1)
	assert.Equal(t, usb.ID{Vendor: 0x147e, Product: 0x2016}, found[0].Model.ID)
	assert.Equal(t, "upektc", found[0].Model.Family)
	got := usbtest.LoadGray(t, filepath.Join(out, "capture.png"))
	want := usbtest.LoadGray(t, filepath.Join(dir, "capture.png"))
	assert.True(t, string(want.Pix) == string(got.Pix), "image differs from capture.png")
}

func TestDiscoverChild(t *testing.T) {
	if !usbtest.InChild() {
		t.Skip("runs only under umockdev-run")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out := os.Getenv("KOFFER_REPLAY_OUT")
	found, err := Discover(ctx)
	require.NoError(t, err)
	raw, err := json.Marshal(found)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(out, "found.json"), raw, 0o600))
	r, err := Open(ctx, Options{})
	require.NoError(t, err)
	defer r.Close()
	img, err := r.Capture(ctx)
	require.NoError(t, err)
	f, err := os.Create(filepath.Join(out, "capture.png"))
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img.Gray))
	require.NoError(t, f.Close())
}

func TestOpenUnsupported(t *testing.T) {
	_, err := Open(t.Context(), Options{ID: usb.ID{Vendor: 1, Product: 1}})
	assert.True(t, fingerprint.IsCode(err, fingerprint.CodeUnsupported), "%v", err)
}
