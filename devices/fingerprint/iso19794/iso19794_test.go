package iso19794

import (
	"encoding/hex"
	"image"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/fingerprint"
	"koffer/devices/usb/usbtest"
)

func tiny() *Record {
	return &Record{
		CaptureDeviceID: 0x123, AcquisitionLevel: AcquisitionLevel31, ScaleUnits: ScaleUnitsPPI,
		ScanResX: 500, ScanResY: 500, ImageResX: 500, ImageResY: 500, PixelDepth: 8,
		Views: []View{{Position: fingerprint.LeftIndex, Views: 1, ViewNumber: 1, Quality: 42,
			Width: 2, Height: 2, Data: []byte{1, 2, 3, 4}}},
	}
}

// TestLayout pins the byte layout of the 2005 record against the standard's field table.
func TestLayout(t *testing.T) {
	b, err := tiny().MarshalBinary()
	require.NoError(t, err)
	want := "46495200" + "30313000" + // "FIR\0" "010\0"
		"000000000032" + // record length, 6 bytes: 32 + 14 + 4 = 50
		"0123" + "001f" + // capture device id, acquisition level 31
		"01" + "01" + // one finger, scale units ppi
		"01f4" + "01f4" + "01f4" + "01f4" + // scan and image resolution 500
		"08" + "00" + "0000" + // depth 8, uncompressed, reserved
		"00000012" + "07" + "01" + "01" + "2a" + "00" + // view: length 18, left index, 1 view, #1, quality 42, plain
		"0002" + "0002" + "00" + // 2x2, reserved
		"01020304"
	assert.Equal(t, want, hex.EncodeToString(b))
}

func TestRoundTripRecordedPrints(t *testing.T) {
	var prints []fingerprint.Print
	for i, rec := range []string{"libfprint/upektc_img", "libfprint/uru4000-4500"} {
		dir := usbtest.FixtureDir(t, rec)
		g := usbtest.LoadGray(t, filepath.Join(dir, "capture.png"))
		prints = append(prints, fingerprint.Print{
			Finger: []fingerprint.Finger{fingerprint.RightIndex, fingerprint.LeftThumb}[i],
			Image:  &fingerprint.Image{Gray: g, PPI: 500, Swipe: i == 0},
			Score:  fingerprint.Score{Value: 37 + i, Method: []fingerprint.Method{fingerprint.MethodNFIQ2, fingerprint.MethodEstimate}[i]},
		})
	}
	for _, c := range []Compression{Uncompressed, PNG} {
		t.Run(map[Compression]string{Uncompressed: "raw", PNG: "png"}[c], func(t *testing.T) {
			r, err := FromPrints(prints, c, 7)
			require.NoError(t, err)
			b, err := r.MarshalBinary()
			require.NoError(t, err)
			got, err := Parse(b)
			require.NoError(t, err)
			assert.Equal(t, r, got)
			require.Len(t, got.Views, 2)
			assert.Equal(t, uint8(37), got.Views[0].Quality, "NFIQ 2 score is written")
			assert.Equal(t, uint8(0), got.Views[1].Quality, "an estimate is never written as quality")
			assert.Equal(t, uint8(Swipe), got.Views[0].Impression)
			assert.Equal(t, uint8(LiveScanPlain), got.Views[1].Impression)
			for i, v := range got.Views {
				img, err := got.Image(v)
				require.NoError(t, err)
				assert.Equal(t, prints[i].Image.Gray.Rect, img.Rect)
				assert.True(t, string(prints[i].Image.Gray.Pix) == string(img.Pix), "pixels survive the round trip")
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	good, err := tiny().MarshalBinary()
	require.NoError(t, err)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{name: "empty", b: nil},
		{name: "bad magic", b: mod(func(b []byte) []byte { b[0] = 'X'; return b })},
		{name: "2011 version", b: mod(func(b []byte) []byte { copy(b[4:], "020\x00"); return b })},
		{name: "length mismatch", b: mod(func(b []byte) []byte { return b[:len(b)-1] })},
		{name: "no views", b: mod(func(b []byte) []byte { b[18] = 0; return b })},
		{name: "two views announced", b: mod(func(b []byte) []byte { b[18] = 2; return b })},
		{name: "view length past end", b: mod(func(b []byte) []byte { b[35] = 0xff; return b })},
		{name: "raw size mismatch", b: mod(func(b []byte) []byte { b[42] = 3; return b })},
		{name: "little finger position 11", b: mod(func(b []byte) []byte { b[36] = 11; return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.b)
			assert.ErrorIs(t, err, ErrFormat)
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	r := tiny()
	r.Views = nil
	_, err := r.MarshalBinary()
	assert.Error(t, err)
	r = tiny()
	r.CaptureDeviceID = 0x1000
	_, err = r.MarshalBinary()
	assert.Error(t, err)
	_, err = FromPrints(nil, PNG, 0)
	assert.Error(t, err)
}

func FuzzParse(f *testing.F) {
	good, _ := tiny().MarshalBinary()
	f.Add(good)
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	pr, _ := FromPrints([]fingerprint.Print{{Finger: fingerprint.RightThumb, Image: &fingerprint.Image{Gray: g, PPI: 500}}}, PNG, 0)
	pb, _ := pr.MarshalBinary()
	f.Add(pb)
	f.Add([]byte("FIR\x00010\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		for _, v := range r.Views {
			_, _ = r.Image(v)
		}
		again, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed record does not marshal: %v", err)
		}
		if _, err := Parse(again); err != nil {
			t.Fatalf("re-marshalled record does not parse: %v", err)
		}
	})
}
