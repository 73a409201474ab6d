package photo_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/photo"
	"koffer/agent/photo/phototest"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}))
	return b.Bytes()
}

// A well-aimed webcam frame, as the browser's canvas sends it (PNG and JPEG), becomes a
// 413×531 JPEG at 300 ppi whose face meets the template's numbers.
func TestTakeCentredFace(t *testing.T) {
	frame := phototest.Frame(phototest.Face(t), 640, 480, 1.05, 0.5, 0.5)
	for name, data := range map[string][]byte{"png": encodePNG(t, frame), "jpeg": encodeJPEG(t, frame)} {
		t.Run(name, func(t *testing.T) {
			p, err := photo.Take(bytes.NewReader(data), photo.Adult)
			require.NoError(t, err)

			cfg, format, err := image.DecodeConfig(bytes.NewReader(p.JPEG))
			require.NoError(t, err)
			assert.Equal(t, "jpeg", format)
			assert.Equal(t, photo.Width, cfg.Width)
			assert.Equal(t, photo.Height, cfg.Height)
			// JFIF APP0 right after SOI: units 1 (dpi), 300 × 300.
			require.Greater(t, len(p.JPEG), 20)
			assert.Equal(t, []byte{0xFF, 0xD8, 0xFF, 0xE0}, p.JPEG[:4])
			assert.Equal(t, "JFIF\x00", string(p.JPEG[6:11]))
			assert.Equal(t, []byte{1, 0x01, 0x2C, 0x01, 0x2C}, p.JPEG[13:18])

			// The finished photo: head 34 mm of 45, face centred, eyes in the 22–32 mm band.
			assert.InDelta(t, 34, p.Result.Head, 0.01)
			assert.InDelta(t, 0.5, p.Result.Centre, 0.05)
			assert.GreaterOrEqual(t, p.Result.Eyes, 22.0)
			assert.LessOrEqual(t, p.Result.Eyes, 32.0)
			assert.InDelta(t, 1.1, p.Upscaled, 0.1, "480 px frame to 531 px photo")
			// Ground truth: the test face's head is 333 px (crown to chin) at scale 1, so on
			// the photo it is 333·1.05·Upscaled px of 531 px = 45 mm. The template: 32–36 mm.
			head := 333 * 1.05 * p.Upscaled / photo.Height * 45
			assert.GreaterOrEqual(t, head, 32.0)
			assert.LessOrEqual(t, head, 36.0)

			// The finished photo is itself a passing frame (pigo's box sizes come in 10 %
			// steps, so its own measurement is only that close).
			again, err := photo.Take(bytes.NewReader(p.JPEG), photo.Adult)
			require.NoError(t, err, "the cropped photo must pass the check itself")
			assert.InDelta(t, 34, again.Frame.Head, 3.4, "head height measured on the photo")
			assert.InDelta(t, 0.5, again.Frame.Centre, 0.05)
		})
	}
}

// Frames that make no ID photo get the plain German hint that says what to change.
func TestTakeHints(t *testing.T) {
	face := phototest.Face(t)
	noise := image.NewRGBA(image.Rect(0, 0, 640, 480))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise.Pix {
		noise.Pix[i] = byte(rng.IntN(256))
		if i%4 == 3 {
			noise.Pix[i] = 0xFF
		}
	}
	two := phototest.Frame(face, 1280, 480, 1.0, 0.25, 0.5)
	right := phototest.Frame(face, 640, 480, 1.0, 0.5, 0.5)
	for y := range 480 {
		for x := range 640 {
			two.Set(640+x, y, right.At(x, y))
		}
	}
	tests := []struct {
		name  string
		frame []byte
		code  string
		hint  string
	}{
		{"empty wall", encodePNG(t, phototest.Frame(image.NewUniform(phototest.Background), 640, 480, 0, 0.5, 0.5)), photo.CodeNoFace, "Kein Gesicht erkannt"},
		{"noise", encodePNG(t, noise), photo.CodeNoFace, "Kein Gesicht erkannt"},
		{"off centre", encodePNG(t, phototest.Frame(face, 640, 480, 1.05, 0.3, 0.5)), photo.CodeOffCentre, "Kopf nicht mittig"},
		{"off centre right", encodePNG(t, phototest.Frame(face, 640, 480, 1.05, 0.7, 0.5)), photo.CodeOffCentre, "Kopf nicht mittig"},
		{"far away", encodePNG(t, phototest.Frame(face, 640, 480, 0.6, 0.5, 0.5)), photo.CodeHeadSmall, "Kopf zu klein"},
		{"too close", encodePNG(t, phototest.Frame(face, 640, 480, 1.4, 0.5, 0.5)), photo.CodeHeadLarge, "Kopf zu groß"},
		{"too high", encodePNG(t, phototest.Frame(face, 640, 480, 1.05, 0.5, 0.4)), photo.CodeEyes, "Augen nicht im vorgesehenen Bereich"},
		{"two people", encodePNG(t, two), photo.CodeSeveral, "Mehr als ein Gesicht"},
		{"tiny camera", encodePNG(t, phototest.Frame(face, 320, 240, 0.55, 0.5, 0.5)), photo.CodeResolution, "zu wenige Bildpunkte"},
		{"not an image", []byte("GIF89a nonsense"), photo.CodeUnreadable, "nicht gelesen werden"},
		{"truncated jpeg", encodeJPEG(t, face)[:200], photo.CodeUnreadable, "nicht gelesen werden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := photo.Take(bytes.NewReader(tt.frame), photo.Adult)
			require.Error(t, err)
			assert.Nil(t, p)
			var pe *photo.Error
			require.True(t, errors.As(err, &pe), "%v", err)
			assert.Equal(t, tt.code, pe.Code)
			assert.Contains(t, pe.Hint, tt.hint)
			assert.NotContains(t, err.Error(), "Kopf", "error strings are English; the hint is for the caseworker")
		})
	}
}

// The template depends on age: a child's smaller head still makes a photo, an adult's of the
// same size is too small.
func TestForAge(t *testing.T) {
	assert.Equal(t, photo.Infant, photo.ForAge(3))
	assert.Equal(t, photo.Child, photo.ForAge(6))
	assert.Equal(t, photo.Child, photo.ForAge(9))
	assert.Equal(t, photo.Adult, photo.ForAge(10))

	small := encodePNG(t, phototest.Frame(phototest.Face(t), 1280, 960, 1.5, 0.5, 0.5)) // head ≈ 23 mm
	_, err := photo.Take(bytes.NewReader(small), photo.ForAge(40))
	var pe *photo.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, photo.CodeHeadSmall, pe.Code)
	p, err := photo.Take(bytes.NewReader(small), photo.ForAge(7))
	require.NoError(t, err)
	assert.InDelta(t, 34, p.Result.Head, 0.01)
}

func TestDecodeRefusesOversizedFrames(t *testing.T) {
	// A PNG header announcing 5000×5000 (past a 4K frame) is refused before any pixel is decoded.
	big := encodePNG(t, image.NewGray(image.Rect(0, 0, 5000, 5000)))
	_, err := photo.Decode(bytes.NewReader(big))
	var pe *photo.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, photo.CodeUnreadable, pe.Code)

	_, err = photo.Decode(bytes.NewReader(make([]byte, photo.MaxBytes+1)))
	require.ErrorAs(t, err, &pe)
}

func TestGuide(t *testing.T) {
	assert.Equal(t, image.Rect(133, 0, 507, 480), photo.Guide(640, 480))
	assert.Equal(t, image.Rect(0, 26, 350, 476), photo.Guide(350, 502), "portrait frame narrower than 35:45")
	assert.Equal(t, image.Rect(0, 0, photo.Width, photo.Height), photo.Guide(photo.Width, photo.Height))
}

// The y4m generator writes what Chromium's fake camera reads: the header, then FRAME and the
// three I420 planes per frame, grey background at video level.
func TestWriteY4M(t *testing.T) {
	frame := phototest.Frame(phototest.Face(t), 640, 480, 1.05, 0.5, 0.5)
	file := phototest.Y4MFile(t, frame, 3)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	header := "YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n"
	require.True(t, strings.HasPrefix(string(data), header))
	plane := 640 * 480 * 3 / 2
	assert.Len(t, data, len(header)+3*(len("FRAME\n")+plane))
	body := data[len(header):]
	assert.Equal(t, "FRAME\n", string(body[:6]))
	y := body[6:]
	// Top-left is background 0xE4 (228): Y = 16 + 219·228/255 ≈ 212; U and V neutral.
	assert.InDelta(t, 212, int(y[0]), 1)
	assert.InDelta(t, 128, int(y[640*480]), 1)
	assert.InDelta(t, 128, int(y[640*480+640*480/4]), 1)
	// The face is there: the centre is not background.
	assert.NotEqual(t, y[0], y[240*640+320])

	assert.Error(t, phototest.WriteY4M(&bytes.Buffer{}, image.NewGray(image.Rect(0, 0, 3, 2)), 1), "odd width")
}

func FuzzDecode(f *testing.F) {
	f.Add(encodePNG(f, image.NewGray(image.Rect(0, 0, 4, 4))))
	f.Add(encodeJPEG(f, image.NewGray(image.Rect(0, 0, 8, 8))))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte{0xFF, 0xD8, 0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := photo.Decode(bytes.NewReader(data))
		if err != nil {
			var pe *photo.Error
			if !errors.As(err, &pe) || pe.Hint == "" {
				t.Fatalf("error without a German hint: %v", err)
			}
			return
		}
		b := img.Bounds()
		if b.Dx()*b.Dy() > photo.MaxPixels {
			t.Fatalf("decoded %v past the pixel limit", b)
		}
		// Whatever decodes must go through the check without panicking.
		if b.Dx()*b.Dy() <= 256*256 {
			_, _ = photo.FromImage(img, photo.Adult)
		}
	})
}

// BenchmarkTake measures a whole check and crop of one browser frame (PNG), as the agent does
// it per "Lichtbild aufnehmen".
func BenchmarkTake(b *testing.B) {
	for _, size := range []image.Point{{640, 480}, {1280, 720}, {1920, 1080}} {
		frame := encodePNG(b, phototest.Frame(phototest.Face(b), size.X, size.Y, 1.05*float64(size.Y)/480, 0.5, 0.5))
		b.Run(fmt.Sprintf("%dx%d", size.X, size.Y), func(b *testing.B) {
			for b.Loop() {
				if _, err := photo.Take(bytes.NewReader(frame), photo.Adult); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
