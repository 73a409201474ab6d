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
		{name: "both", in: "[[device]]\nkind = \"printer\"\nusb = \"04f9:2042\"\nuri = \"ipp://p/ipp/print\"", want: "more than one"},
		{name: "neither", in: "[[device]]\nkind = \"printer\"", want: "set usb"},
		{name: "bad vidpid", in: "[[device]]\nkind = \"printer\"\nusb = \"zz\"", want: "usb \"zz\""},
		{name: "bad scheme", in: "[[device]]\nkind = \"scanner\"\nuri = \"ftp://x/\"", want: "scheme"},
		{name: "town hall in the profile", in: "townhall = \"https://rathaus\"", want: "enrollment bundle"},
		{name: "usb and command", in: "[[device]]\nkind = \"fingerprint\"\nusb = \"147e:2016\"\ncommand = [\"/bin/h\"]", want: "more than one"},
		{name: "command for a printer", in: "[[device]]\nkind = \"printer\"\ncommand = [\"/bin/h\"]", want: "fingerprint reader"},
		{name: "empty program", in: "[[device]]\nkind = \"fingerprint\"\ncommand = [\"\"]", want: "helper program"},
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

func TestParseHelper(t *testing.T) {
	p, err := Parse([]byte("[[device]]\nkind = \"fingerprint\"\ncommand = [\"/usr/lib/koffer/helper\", \"-v\"]"))
	require.NoError(t, err)
	require.Len(t, p.Devices, 1)
	assert.True(t, p.Devices[0].Helper())
	assert.False(t, p.Devices[0].Network())
	assert.Equal(t, []string{"/usr/lib/koffer/helper", "-v"}, p.Devices[0].Command)
}

func TestResolve(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kit.toml")
	require.NoError(t, os.WriteFile(p, []byte(good), 0o644))
	prof, err := Resolve(p)
	require.NoError(t, err)
	assert.Len(t, prof.Devices, 3)
	_, err = Resolve(filepath.Join(t.TempDir(), "none.toml"))
	assert.Error(t, err, "a named profile must exist")
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
