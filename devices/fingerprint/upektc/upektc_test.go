package upektc

import (
	"context"
	"errors"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/fingerprint"
	"koffer/devices/usb"
	"koffer/devices/usb/usbtest"
)

const fixture = "libfprint/upektc_img"

var _ fingerprint.Transport = (*usb.Fake)(nil)
var _ fingerprint.Transport = (*usb.Device)(nil)

func TestFrameRoundTrip(t *testing.T) {
	// Commands as the recording shows them on the wire (their CRCs are the device's check).
	tests := []struct {
		name string
		f    Frame
		want string
	}{
		{name: "init2", f: cmdInit2, want: "4369616f070001013d72"},
		{name: "capture seq 1", f: Frame{Type: cmdCapture.Type, Seq: 1, Payload: cmdCapture.Payload}, want: "4369616f00100e280b0000000e02feffffff0200022f8a"},
		{name: "ack frame seq 4", f: Frame{Type: typeData, Seq: 4, Payload: []byte{cmdAckFrame}}, want: "4369616f00400130cf18"},
		{name: "ack 08", f: cmdAck08, want: "4369616f090000919e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendFrame(nil, tt.f)
			assert.Equal(t, tt.want, hexs(b))
			got, err := ParseFrame(append(b, 0, 0, 0)) // padding after the frame is ignored
			require.NoError(t, err)
			assert.Equal(t, tt.f.Type, got.Type)
			assert.Equal(t, tt.f.Seq, got.Seq)
			assert.Equal(t, hexs(tt.f.Payload), hexs(got.Payload))
		})
	}
}

func TestParseFrameRejects(t *testing.T) {
	good := AppendFrame(nil, Frame{Type: 0, Seq: 3, Payload: []byte{0x28, 1, 2, 3}})
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 0xff
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{name: "short header", b: good[:5], want: errTruncated},
		{name: "truncated payload", b: good[:len(good)-3], want: errTruncated},
		{name: "bad crc", b: badCRC, want: errCRC},
		{name: "no magic", b: append([]byte("Hola"), good[4:]...), want: errMagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFrame(tt.b)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(AppendFrame(nil, cmdCapture))
	f.Add(AppendFrame(nil, Frame{Type: typeData, Seq: 7, Payload: make([]byte, 2043)}))
	f.Add([]byte("Ciao\x00\x0f\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			return
		}
		// A frame that parses re-encodes to the same bytes.
		again := AppendFrame(nil, fr)
		if string(again) != string(b[:len(again)]) {
			t.Fatalf("re-encoding differs: % x vs % x", again, b[:len(again)])
		}
	})
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

// TestCaptureRecording replays the recorded session through the scripted fake: the image
// must equal the one libfprint assembled from the same session, byte for byte.
func TestCaptureRecording(t *testing.T) {
	dir := usbtest.FixtureDir(t, fixture)
	fake := usb.NewFake(usbtest.FakeFromRecording(t, dir))
	img, err := New(fake, Options{}).Capture(t.Context())
	require.NoError(t, err)
	want := usbtest.LoadGray(t, filepath.Join(dir, "capture.png"))
	require.Equal(t, want.Rect, img.Gray.Rect)
	assert.True(t, string(want.Pix) == string(img.Gray.Pix), "image differs from capture.png")
	assert.Equal(t, 500, img.PPI)
	assert.Zero(t, fake.Remaining(), "driver left recorded transfers unplayed")
}

// TestCaptureFaults breaks the recording at the points a real reader fails: every fault must
// end in a *devices.Error with a German hint and no image, well before any long timeout.
func TestCaptureFaults(t *testing.T) {
	dir := usbtest.FixtureDir(t, fixture)
	base := usbtest.FakeFromRecording(t, dir)
	firstImage := -1
	for i, s := range base {
		if s.Kind == usb.StepRead && len(s.Data) > 8 && s.Data[7] == cmdFrameFirst {
			firstImage = i
			break
		}
	}
	require.Positive(t, firstImage)
	tests := []struct {
		name   string
		mutate func([]usb.Step) []usb.Step
		code   string
	}{
		{name: "bad crc", code: fingerprint.CodeBadFrame, mutate: func(s []usb.Step) []usb.Step {
			s[firstImage+4].Data = flip(s[firstImage+4].Data, 40)
			return s
		}},
		{name: "truncated frame", code: fingerprint.CodeTruncated, mutate: func(s []usb.Step) []usb.Step {
			s[firstImage+1].Data = s[firstImage+1].Data[:100] // the rest of an image frame
			return s
		}},
		{name: "unexpected packet", code: fingerprint.CodeUnexpected, mutate: func(s []usb.Step) []usb.Step {
			s[firstImage].Data = AppendFrame(nil, Frame{Type: 0x05, Payload: []byte{0}})
			return s
		}},
		{name: "no finger", code: fingerprint.CodeNoFinger, mutate: func(s []usb.Step) []usb.Step {
			return s[:firstImage] // nobody swipes
		}},
		{name: "silence mid swipe", code: fingerprint.CodeTimeout, mutate: func(s []usb.Step) []usb.Step {
			return s[:firstImage+6] // the reader stops answering after some strips
		}},
		{name: "timeout", code: fingerprint.CodeTimeout, mutate: func(s []usb.Step) []usb.Step {
			s[firstImage+2].Fault = usb.FaultTimeout
			return s
		}},
		{name: "stall", code: fingerprint.CodeStall, mutate: func(s []usb.Step) []usb.Step {
			s[3].Fault = usb.FaultStall
			return s
		}},
		{name: "unplug mid capture", code: fingerprint.CodeUnplugged, mutate: func(s []usb.Step) []usb.Step {
			s[firstImage+20].Fault = usb.FaultUnplug
			return s
		}},
		{name: "short swipe", code: fingerprint.CodeRetry, mutate: func(s []usb.Step) []usb.Step {
			st := statusFrame(t, s, firstImage, statusTooShort)
			s[firstImage].Data = st
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := tt.mutate(cloneSteps(base))
			fake := usb.NewFake(steps)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			img, err := New(fake, Options{TransferTimeout: 100 * time.Millisecond, FingerTimeout: 200 * time.Millisecond}).Capture(ctx)
			assert.Nil(t, img, "no image may come out of a failed capture")
			var de *devices.Error
			require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
			assert.Equal(t, tt.code, de.Code)
			assert.Equal(t, devices.Fingerprint, de.Kind)
			assert.NotEmpty(t, de.Hint)
			assert.Less(t, time.Since(start), 5*time.Second, "fault must not hang")
		})
	}
}

// statusFrame builds a status answer with the given finger state, shaped like the recorded
// status frame before the first image frame.
func statusFrame(t *testing.T, s []usb.Step, before int, state byte) []byte {
	t.Helper()
	for i := before - 1; i >= 0; i-- {
		if s[i].Kind == usb.StepRead && len(s[i].Data) > 18 && s[i].Data[7] == cmdStatus {
			f, err := ParseFrame(s[i].Data)
			require.NoError(t, err)
			p := append([]byte(nil), f.Payload...)
			p[statusByte] = state
			return AppendFrame(nil, Frame{Type: f.Type, Seq: f.Seq, Payload: p})
		}
	}
	t.Fatal("no status frame in recording")
	return nil
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x55
	return c
}

func cloneSteps(s []usb.Step) []usb.Step {
	c := make([]usb.Step, len(s))
	copy(c, s)
	return c
}

// TestReplayUmockdev runs the driver on gousb/libusb against umockdev's replay of the real
// reader's recording: the assembled image must be bit-exact equal to capture.png.
func TestReplayUmockdev(t *testing.T) {
	if usbtest.InChild() {
		t.Skip("parent side only")
	}
	dir := usbtest.FixtureDir(t, fixture)
	out := filepath.Join(t.TempDir(), "capture.png")
	usbtest.RunUnderUmockdev(t, dir, "TestUmockdevChild", "KOFFER_REPLAY_OUT="+out)
	got := usbtest.LoadGray(t, out)
	want := usbtest.LoadGray(t, filepath.Join(dir, "capture.png"))
	require.Equal(t, want.Rect, got.Rect)
	assert.True(t, string(want.Pix) == string(got.Pix), "replayed image differs from capture.png")
}

// TestUmockdevChild is the side of TestReplayUmockdev that runs under umockdev-run.
func TestUmockdevChild(t *testing.T) {
	if !usbtest.InChild() {
		t.Skip("runs only under umockdev-run (see TestReplayUmockdev)")
	}
	dev, err := usb.OpenDevice(Models[0].ID, usb.OpenOptions{})
	require.NoError(t, err)
	defer dev.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	img, err := New(dev, Options{}).Capture(ctx)
	require.NoError(t, err)
	f, err := os.Create(os.Getenv("KOFFER_REPLAY_OUT"))
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img.Gray))
	require.NoError(t, f.Close())
}

// TestUnplugAfterLastFrameKeepsImage: once every strip arrived with a good CRC the image is
// complete; losing the reader while putting it to rest must not cost another attempt.
func TestUnplugAfterLastFrameKeepsImage(t *testing.T) {
	dir := usbtest.FixtureDir(t, fixture)
	steps := cloneSteps(usbtest.FakeFromRecording(t, dir))
	last := len(steps) - 2 // the deinit command, then its answer
	require.Equal(t, usb.StepWrite, steps[last].Kind)
	steps[last].Fault = usb.FaultUnplug
	img, err := New(usb.NewFake(steps), Options{Logger: quiet}).Capture(t.Context())
	require.NoError(t, err)
	want := usbtest.LoadGray(t, filepath.Join(dir, "capture.png"))
	assert.True(t, string(want.Pix) == string(img.Gray.Pix))
}

var quiet = slog.New(slog.DiscardHandler)
