package profile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/usb"
)

const good = `
townhall = "https://rathaus.example.de/koffer"

[[device]]
kind = "printer"
name = "Brother"
usb  = "04f9:2042"

[[device]]
kind = "scanner"
uri  = "http://192.168.8.20/eSCL"

[[device]]
kind = "fingerprint"
usb  = "147e:2016"
`

func TestParse(t *testing.T) {
	p, err := Parse([]byte(good))
	require.NoError(t, err)
	assert.Equal(t, "https://rathaus.example.de/koffer", p.TownHall)
	require.Len(t, p.Devices, 3)
	assert.Equal(t, usb.ID{Vendor: 0x04f9, Product: 0x2042}, p.Devices[0].USBID)
	assert.True(t, p.Devices[1].Network())
	assert.Len(t, p.Of(devices.Fingerprint), 1)
	assert.Empty(t, (*Profile)(nil).Of(devices.Printer))
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "unknown top key", in: "townhal = \"https://x\"", want: "townhal"},
		{name: "unknown device key", in: "[[device]]\nkind = \"printer\"\nusb = \"04f9:2042\"\nvid = 1", want: "device.vid"},
		{name: "bad kind", in: "[[device]]\nkind = \"toaster\"\nusb = \"04f9:2042\"", want: "kind must be"},
		{name: "both", in: "[[device]]\nkind = \"printer\"\nusb = \"04f9:2042\"\nuri = \"ipp://p/ipp/print\"", want: "both set"},
		{name: "neither", in: "[[device]]\nkind = \"printer\"", want: "set usb"},
		{name: "bad vidpid", in: "[[device]]\nkind = \"printer\"\nusb = \"zz\"", want: "usb \"zz\""},
		{name: "bad scheme", in: "[[device]]\nkind = \"scanner\"\nuri = \"ftp://x/\"", want: "scheme"},
		{name: "http town hall", in: "townhall = \"http://rathaus\"", want: "https"},
		{name: "not toml", in: "[[device", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kit.toml")
	require.NoError(t, os.WriteFile(p, []byte(good), 0o644))
	prof, err := Load(p)
	require.NoError(t, err)
	assert.Len(t, prof.Devices, 3)
	_, err = Load(filepath.Join(t.TempDir(), "none.toml"))
	assert.Error(t, err)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("[[device]]\nkind = \"printer\"\nusb = \"04f9:2042\"\nvid = 1"))
	f.Add([]byte("townhall = 3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		for _, d := range p.Devices {
			if (d.USB == "") == (d.URI == "") {
				t.Fatalf("accepted device without exactly one address: %+v", d)
			}
		}
	})
}
