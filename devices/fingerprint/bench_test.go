package fingerprint

import (
	"bytes"
	"image/png"
	"path/filepath"
	"testing"
	"time"

	"koffer/devices/usb/usbtest"
)

// BenchmarkEstimate is the built-in quality estimate's time per image. The peer, measured in
// the same run on the same image, is encoding it as PNG (what every capture costs anyway);
// x-png is the ratio.
func BenchmarkEstimate(b *testing.B) {
	for _, rec := range []string{"libfprint/upektc_img", "libfprint/uru4000-4500"} {
		b.Run(filepath.Base(rec), func(b *testing.B) {
			g := usbtest.LoadGray(b, filepath.Join(usbtest.FixtureDir(b, rec), "capture.png"))
			img := &Image{Gray: g, PPI: 500}
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if _, err := (Estimate{}).Score(b.Context(), img); err != nil {
					b.Fatal(err)
				}
			}
			est := time.Since(start) / time.Duration(b.N)
			b.StopTimer()
			var buf bytes.Buffer
			const peerRuns = 50
			pstart := time.Now()
			for range peerRuns {
				buf.Reset()
				if err := png.Encode(&buf, g); err != nil {
					b.Fatal(err)
				}
			}
			peer := time.Since(pstart) / peerRuns
			b.ReportMetric(float64(est)/float64(peer), "x-png")
		})
	}
}
