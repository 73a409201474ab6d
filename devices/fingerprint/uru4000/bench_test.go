package uru4000

import (
	"testing"
	"time"

	"koffer/devices/usb"
	"koffer/devices/usb/usbtest"
)

// BenchmarkCaptureRecording is the driver's time per image (register traffic, unscrambling,
// block layout, inversion and rotation) on a fake transport that answers at once. The peer is
// the recorded reader's own time for the bulk frame; %device is the driver's share of it.
func BenchmarkCaptureRecording(b *testing.B) {
	dir := usbtest.FixtureDir(b, fixture)
	steps := usbtest.FakeFromRecording(b, dir)
	device := usbtest.ImageSpan(b, dir, epData, frameLen)
	var seed uint32
	for _, s := range steps {
		if s.Kind == usb.StepControl && s.Value == regScrambleIx && len(s.Data) == 5 {
			seed = uint32(s.Data[1]) | uint32(s.Data[2])<<8 | uint32(s.Data[3])<<16 | uint32(s.Data[4])<<24
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		d, err := New(usb.NewFake(steps), Options{Seed: func() uint32 { return seed }})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Capture(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(100*float64(per)/float64(device), "%device")
	b.ReportMetric(float64(device.Microseconds()), "device-µs")
}
