// Package phototest makes camera frames and fake-camera videos from the shipped test face
// (testdata/photo/face.jpg, see its README for the licence), for the photo checks and for
// Chromium's fake capture device (--use-file-for-fake-video-capture=FILE.y4m).
package phototest

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/image/draw"
)

// Background is the frame's plain light grey, like a wall behind the citizen.
var Background = color.RGBA{R: 0xE4, G: 0xE4, B: 0xE4, A: 0xFF}

// FacePath is the shipped test face, found beside this source file so that tests of any
// package can use it.
func FacePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "photo", "face.jpg")
}

// Face decodes the test face: 320×400 px, frontal, head (crown to chin) about 333 px high.
func Face(t testing.TB) image.Image {
	t.Helper()
	f, err := os.Open(FacePath())
	if err != nil {
		t.Fatalf("open test face: %v", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode test face: %v", err)
	}
	return img
}

// Frame lays face, scaled by scale, onto a w×h frame of Background with the face image's
// centre at (cx·w, cy·h): 640×480, 1.05, 0.5, 0.5 is a well-aimed webcam frame.
func Frame(face image.Image, w, h int, scale, cx, cy float64) *image.RGBA {
	frame := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(frame, frame.Bounds(), image.NewUniform(Background), image.Point{}, draw.Src)
	fb := face.Bounds()
	fw, fh := float64(fb.Dx())*scale, float64(fb.Dy())*scale
	x0, y0 := cx*float64(w)-fw/2, cy*float64(h)-fh/2
	dst := image.Rect(int(x0), int(y0), int(x0+fw), int(y0+fh))
	draw.CatmullRom.Scale(frame, dst, face, fb, draw.Over, nil)
	return frame
}

// WriteY4M writes img as a YUV4MPEG2 video of frames identical frames at 30 fps, 4:2:0
// (I420), BT.601 limited range: the format Chromium's fake capture device plays in a loop.
// Width and height must be even.
func WriteY4M(w io.Writer, img image.Image, frames int) error {
	b := img.Bounds()
	width, height := b.Dx(), b.Dy()
	if width%2 != 0 || height%2 != 0 || frames < 1 {
		return fmt.Errorf("y4m: want even width and height and at least one frame, got %dx%d, %d", width, height, frames)
	}
	y := make([]byte, width*height)
	u := make([]byte, width*height/4)
	v := make([]byte, width*height/4)
	for row := 0; row < height; row++ {
		for col := 0; col < width; col++ {
			r, g, bl := rgb(img.At(b.Min.X+col, b.Min.Y+row))
			y[row*width+col] = clamp(16 + (65.481*r+128.553*g+24.966*bl)/255)
		}
	}
	for row := 0; row < height; row += 2 {
		for col := 0; col < width; col += 2 {
			var r, g, bl float64
			for _, p := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				pr, pg, pb := rgb(img.At(b.Min.X+col+p[0], b.Min.Y+row+p[1]))
				r, g, bl = r+pr/4, g+pg/4, bl+pb/4
			}
			i := (row/2)*(width/2) + col/2
			u[i] = clamp(128 + (-37.797*r-74.203*g+112.0*bl)/255)
			v[i] = clamp(128 + (112.0*r-93.786*g-18.214*bl)/255)
		}
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\n", width, height)
	for range frames {
		bw.WriteString("FRAME\n")
		bw.Write(y)
		bw.Write(u)
		bw.Write(v)
	}
	return bw.Flush()
}

// Y4MFile writes img as a y4m video of frames frames into t's temporary directory and returns
// its path, for --use-file-for-fake-video-capture.
func Y4MFile(t testing.TB, img image.Image, frames int) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "camera.y4m")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteY4M(f, img, frames); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}

func rgb(c color.Color) (r, g, b float64) {
	cr, cg, cb, _ := c.RGBA()
	return float64(cr >> 8), float64(cg >> 8), float64(cb >> 8)
}

func clamp(f float64) byte {
	switch {
	case f < 0:
		return 0
	case f > 255:
		return 255
	}
	return byte(f + 0.5)
}
