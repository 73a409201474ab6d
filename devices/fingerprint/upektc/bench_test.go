package upektc

import (
	"testing"
	"time"

	"koffer/devices/usb"
	"koffer/devices/usb/usbtest"
)

// BenchmarkCaptureRecording is the driver's time per image (the whole recorded session:
// framing, CRC checks and strip assembly) on a fake transport that answers at once. The peer
// is the recorded reader's own time to deliver the image strips; %device is the driver's
// share of it (target: a few percent at most).
func BenchmarkCaptureRecording(b *testing.B) {
	dir := usbtest.FixtureDir(b, fixture)
	steps := usbtest.FakeFromRecording(b, dir)
	device := usbtest.ImageSpan(b, dir, epIn, longRead)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := New(usb.NewFake(steps), Options{}).Capture(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(100*float64(per)/float64(device), "%device")
	b.ReportMetric(float64(device.Microseconds()), "device-µs")
}
