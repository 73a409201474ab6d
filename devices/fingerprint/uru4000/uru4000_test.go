package uru4000

import (
	"context"
	"encoding/binary"
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

const fixture = "libfprint/uru4000-4500"

// recordedSeed is the host's key share the recorded session wrote to the scramble index
// register (bytes 1..4 of the 5-byte write to register 0x33). A replay must send the same
// bytes, so the test reads it from the recording rather than from a random source.
func recordedSeed(t *testing.T, steps []usb.Step) func() uint32 {
	t.Helper()
	for _, s := range steps {
		if s.Kind == usb.StepControl && s.RequestType == ctrlOut && s.Value == regScrambleIx && len(s.Data) == 5 {
			seed := binary.LittleEndian.Uint32(s.Data[1:])
			return func() uint32 { return seed }
		}
	}
	t.Fatal("recording has no scramble index write")
	return nil
}

// TestCaptureRecording replays the session through the scripted fake: the decoded image
// must equal the one libfprint produced from the same session, byte for byte.
func TestCaptureRecording(t *testing.T) {
	dir := usbtest.FixtureDir(t, fixture)
	steps := usbtest.FakeFromRecording(t, dir)
	fake := usb.NewFake(steps)
	d, err := New(fake, Options{Seed: recordedSeed(t, steps)})
	require.NoError(t, err)
	img, err := d.Capture(t.Context())
	require.NoError(t, err)
	want := usbtest.LoadGray(t, filepath.Join(dir, "capture.png"))
	require.Equal(t, want.Rect, img.Gray.Rect)
	assert.True(t, string(want.Pix) == string(img.Gray.Pix), "image differs from capture.png")
	assert.Zero(t, fake.Remaining(), "driver left recorded transfers unplayed")
}

func TestWrongSeedIsNotTheImage(t *testing.T) {
	// The decode must depend on the key exchange: another host seed gives another key stream.
	dir := usbtest.FixtureDir(t, fixture)
	steps := usbtest.FakeFromRecording(t, dir)
	for i, s := range steps {
		if s.Kind == usb.StepControl && s.Value == regScrambleIx {
			steps[i].Data = append([]byte{s.Data[0]}, 1, 2, 3, 4)
		}
	}
	d, err := New(usb.NewFake(steps), Options{Seed: func() uint32 { return 0x04030201 }})
	require.NoError(t, err)
	img, err := d.Capture(t.Context())
	require.NoError(t, err)
	want := usbtest.LoadGray(t, filepath.Join(dir, "capture.png"))
	assert.False(t, string(want.Pix) == string(img.Gray.Pix))
}

func TestCaptureFaults(t *testing.T) {
	dir := usbtest.FixtureDir(t, fixture)
	base := usbtest.FakeFromRecording(t, dir)
	bulk := -1
	for i, s := range base {
		if s.Kind == usb.StepRead && s.Endpoint == epData {
			bulk = i
		}
	}
	require.Positive(t, bulk)
	tests := []struct {
		name   string
		mutate func([]usb.Step) []usb.Step
		code   string
	}{
		{name: "truncated frame", code: fingerprint.CodeBadImage, mutate: func(s []usb.Step) []usb.Step {
			s[bulk].Data = s[bulk].Data[:50000]
			return s
		}},
		{name: "header shorter than 64", code: fingerprint.CodeTruncated, mutate: func(s []usb.Step) []usb.Step {
			s[bulk].Data = s[bulk].Data[:10]
			return s
		}},
		{name: "silence instead of frame", code: fingerprint.CodeTimeout, mutate: func(s []usb.Step) []usb.Step {
			s[bulk].Fault = usb.FaultTimeout
			return s
		}},
		{name: "no finger", code: fingerprint.CodeNoFinger, mutate: func(s []usb.Step) []usb.Step {
			var out []usb.Step
			for _, st := range s {
				if st.Kind == usb.StepRead && st.Endpoint == epIntr && binary.BigEndian.Uint16(st.Data) == irqFingerOn {
					continue
				}
				out = append(out, st)
			}
			return out
		}},
		{name: "stall on register read", code: fingerprint.CodeStall, mutate: func(s []usb.Step) []usb.Step {
			for i := range s {
				if s[i].Kind == usb.StepControl {
					s[i].Fault = usb.FaultStall
					break
				}
			}
			return s
		}},
		{name: "unplug mid capture", code: fingerprint.CodeUnplugged, mutate: func(s []usb.Step) []usb.Step {
			s[bulk].Fault = usb.FaultUnplug
			return s
		}},
		{name: "short register answer", code: fingerprint.CodeTruncated, mutate: func(s []usb.Step) []usb.Step {
			for i := range s {
				if s[i].Kind == usb.StepControl && s[i].Value == regScrambleK {
					s[i].Data = s[i].Data[:2]
				}
			}
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := tt.mutate(append([]usb.Step(nil), base...))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			d, err := New(usb.NewFake(steps), Options{
				Seed:            recordedSeed(t, base),
				TransferTimeout: 100 * time.Millisecond, FingerTimeout: 200 * time.Millisecond,
				FingerOffTimeout: 100 * time.Millisecond, PowerTimeout: 100 * time.Millisecond,
			})
			require.NoError(t, err)
			start := time.Now()
			img, err := d.Capture(ctx)
			assert.Nil(t, img, "no image may come out of a failed capture")
			var de *devices.Error
			require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
			assert.Equal(t, tt.code, de.Code, "%v", err)
			assert.NotEmpty(t, de.Hint)
			assert.Less(t, time.Since(start), 5*time.Second, "fault must not hang")
		})
	}
}

func TestUnknownModel(t *testing.T) {
	_, err := New(usb.NewFake(nil), Options{Model: usb.ID{Vendor: 1, Product: 2}})
	assert.True(t, fingerprint.IsCode(err, fingerprint.CodeUnsupported))
}

func TestKeyStreamRoundTrip(t *testing.T) {
	// Scrambling is "next byte xor pad": scramble a line with the same key stream, and
	// unscrambleLines must give it back (the last byte is defined as zero).
	plain := make([]byte, Width)
	for i := range plain[:Width-1] {
		plain[i] = byte(i * 7)
	}
	key := uint32(0x12345678)
	scrambled := make([]byte, Width)
	k := key
	for i := range Width - 1 {
		var pad byte
		for j, s := range keyBits {
			pad |= byte(k>>s&1) << j
		}
		k = nextKey(k)
		scrambled[i+1] = plain[i] ^ pad
	}
	end := unscrambleLines(scrambled, key)
	assert.Equal(t, plain, scrambled)
	assert.Equal(t, nextKey(k), end)
}

func FuzzParseFrame(f *testing.F) {
	hdr := make([]byte, headerLen)
	binary.LittleEndian.PutUint16(hdr[4:], 3)
	hdr[16], hdr[17] = blockEncrypted, 2
	hdr[18], hdr[19] = blockNotPresent|blockChangeKey, 1
	f.Add(hdr, uint16(4*Width+headerLen), uint32(1))
	f.Add([]byte{}, uint16(0), uint32(0))
	f.Fuzz(func(t *testing.T, head []byte, n uint16, key uint32) {
		buf := make([]byte, frameLen)
		copy(buf, head)
		fr, err := parseFrame(buf, int(n))
		if err != nil {
			return
		}
		block, line := 0, 0
		for range numBlocks + 1 {
			var changed bool
			block, line, key, changed, err = fr.decode(block, line, key)
			if err != nil || !changed {
				break
			}
		}
		if _, err := fr.assemble(); err != nil {
			return
		}
	})
}

// TestReplayUmockdev runs the driver on gousb/libusb against umockdev's replay of the
// recording: the decoded image must be bit-exact equal to capture.png.
func TestReplayUmockdev(t *testing.T) {
	if usbtest.InChild() {
		t.Skip("parent side only")
	}
	dir := usbtest.FixtureDir(t, fixture)
	out := filepath.Join(t.TempDir(), "capture.png")
	usbtest.RunUnderUmockdev(t, dir, "TestUmockdevChild", "KOFFER_REPLAY_OUT="+out, "KOFFER_REPLAY_DIR="+dir)
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
	steps := usbtest.FakeFromRecording(t, os.Getenv("KOFFER_REPLAY_DIR"))
	dev, err := usb.OpenDevice(U4500, usb.OpenOptions{})
	require.NoError(t, err)
	defer dev.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	d, err := New(dev, Options{Seed: recordedSeed(t, steps)})
	require.NoError(t, err)
	img, err := d.Capture(ctx)
	require.NoError(t, err)
	f, err := os.Create(os.Getenv("KOFFER_REPLAY_OUT"))
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img.Gray))
	require.NoError(t, f.Close())
}

// TestUnplugAfterFrameKeepsImage: the frame is complete and decoded before the reader is put
// to rest; losing the reader then must not cost another attempt.
func TestUnplugAfterFrameKeepsImage(t *testing.T) {
	dir := usbtest.FixtureDir(t, fixture)
	steps := usbtest.FakeFromRecording(t, dir)
	seed := recordedSeed(t, steps)
	for i := range steps {
		if steps[i].Kind == usb.StepControl && steps[i].Value == regMode && steps[i].Data[0] == modeAwaitFingerOff {
			steps[i].Fault = usb.FaultUnplug
		}
	}
	d, err := New(usb.NewFake(steps), Options{Seed: seed, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	img, err := d.Capture(t.Context())
	require.NoError(t, err)
	want := usbtest.LoadGray(t, filepath.Join(dir, "capture.png"))
	assert.True(t, string(want.Pix) == string(img.Gray.Pix))
}
