package fingerprint

import (
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/usb/usbtest"
)

func ridges(w, h int, period float64) *Image {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 128 + 100*math.Sin(2*math.Pi*(float64(x)*0.8+float64(y)*0.6)/period)
			g.Pix[y*g.Stride+x] = uint8(v)
		}
	}
	return &Image{Gray: g, PPI: 500}
}

func TestEstimateOrdersImages(t *testing.T) {
	noise := image.NewGray(image.Rect(0, 0, 256, 256))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.IntN(256))
	}
	blank := image.NewGray(image.Rect(0, 0, 256, 256))
	for i := range blank.Pix {
		blank.Pix[i] = 200
	}
	e := Estimate{}
	score := func(img *Image) Score {
		s, err := e.Score(t.Context(), img)
		require.NoError(t, err)
		assert.Equal(t, MethodEstimate, s.Method, "the built-in score is always labelled an estimate")
		return s
	}
	clean := score(ridges(256, 256, 9))
	noisy := score(&Image{Gray: noise, PPI: 500})
	empty := score(&Image{Gray: blank, PPI: 500})
	assert.Greater(t, clean.Value, 80, "clean ridges")
	assert.Less(t, noisy.Value, EstimateRetryBelow, "noise")
	assert.Equal(t, 0, empty.Value, "no finger")
	assert.False(t, RetryHint(clean, RightIndex))
	assert.True(t, RetryHint(noisy, RightIndex))
	assert.Contains(t, noisy.String(), "kein NFIQ 2")
}

func TestEstimateOnRecordedPrints(t *testing.T) {
	// The UPEK recording is a real swipe print; the U.are.U recording of libfprint's test
	// suite shows mostly smudges. The estimate must tell them apart.
	score := func(rec string) int {
		dir := usbtest.FixtureDir(t, rec)
		g := usbtest.LoadGray(t, filepath.Join(dir, "capture.png"))
		s, err := Estimate{}.Score(t.Context(), &Image{Gray: g, PPI: 500})
		require.NoError(t, err)
		return s.Value
	}
	swipe, smudge := score("libfprint/upektc_img"), score("libfprint/uru4000-4500")
	assert.GreaterOrEqual(t, swipe, EstimateRetryBelow, "a real print needs no retry hint")
	assert.Less(t, smudge, swipe)
	assert.Less(t, smudge, EstimateRetryBelow, "smudges get a retry hint")
}

// TestNFIQ2Adapter checks the adapter's side of the contract (arguments, one PNG per call,
// parsing the single-image output, cleaning up) with a stand-in program: the NIST tool is
// not packaged for Debian, so the real scorer is only used where a kit has it installed.
func TestNFIQ2Adapter(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	tool := filepath.Join(dir, "nfiq2")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\nlast=\"\"; for a; do last=$a; done\n" +
		"test -s \"$last\" || exit 3\nhead -c 8 \"$last\" | od -An -tx1 | grep -q '89 50 4e 47' || exit 4\necho \"${NFIQ_OUT:-42}\"\n"
	require.NoError(t, os.WriteFile(tool, []byte(script), 0o755))

	tests := []struct {
		name    string
		out     string
		want    int
		wantErr bool
	}{
		{name: "score", out: "42", want: 42},
		{name: "zero", out: "0", want: 0},
		{name: "error text", out: "Error: image too small", wantErr: true},
		{name: "out of range", out: "255", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NFIQ_OUT", tt.out)
			n := &NFIQ2{Path: tool, Timeout: 5 * time.Second}
			s, err := n.Score(t.Context(), ridges(300, 300, 9))
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, Score{Value: tt.want, Method: MethodNFIQ2}, s)
			args, err := os.ReadFile(argsFile)
			require.NoError(t, err)
			assert.Contains(t, string(args), "-F ")
			// The temporary image is gone: biometric data is not left on disk.
			fields := string(args[len("-F ") : len(args)-1])
			_, err = os.Stat(fields)
			assert.True(t, os.IsNotExist(err), "temporary image %s left behind", fields)
		})
	}
}
