package documents

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
)

// rasterPage draws one page of the layout into an 8-bit grey image (0 black, 255 white).
func rasterPage(p *page, dpi int) (*image.Gray, error) {
	reg, bold, err := fonts()
	if err != nil {
		return nil, fmt.Errorf("parse fonts: %w", err)
	}
	px := func(mm float64) int { return int(math.Round(mm / 25.4 * float64(dpi))) }
	img := image.NewGray(image.Rect(0, 0, px(pageW), px(pageH)))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	faces := map[[2]float64]font.Face{}
	defer func() {
		for _, f := range faces {
			f.Close()
		}
	}()
	fill := func(x, y, w, h float64) {
		r := image.Rect(px(x), px(y), px(x+w), px(y+h))
		if r.Dy() == 0 {
			r.Max.Y++
		}
		draw.Draw(img, r, image.Black, image.Point{}, draw.Src)
	}
	for _, it := range p.items {
		switch it := it.(type) {
		case textItem:
			key := [2]float64{it.size, 0}
			f := reg
			if it.bold {
				key[1], f = 1, bold
			}
			face, ok := faces[key]
			if !ok {
				face, err = opentype.NewFace(f, &opentype.FaceOptions{Size: it.size, DPI: float64(dpi), Hinting: font.HintingNone})
				if err != nil {
					return nil, fmt.Errorf("font face: %w", err)
				}
				faces[key] = face
			}
			d := font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: face}
			d.Dot.X, d.Dot.Y = fixedMM(it.x, dpi), fixedMM(it.y, dpi)
			d.DrawString(it.s)
		case rectItem:
			fill(it.x, it.y, it.w, it.h)
		case codeItem:
			forModules(it, func(x, y, s float64) { fill(x, y, s, s) })
		}
	}
	return img, nil
}

// writePWG writes the layout as PWG raster (PWG 5102.4): 8 bits per pixel, one colour,
// sgray_8 (0 black) or, with black set, black_8 (0 white).
func writePWG(l *layout, dpi int, black bool, w io.Writer) error {
	if dpi < 50 || dpi > 1200 {
		return fmt.Errorf("pwg raster: resolution %d dpi out of range", dpi)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString("RaS2"); err != nil {
		return err
	}
	for i, p := range l.pages {
		img, err := rasterPage(p, dpi)
		if err != nil {
			return err
		}
		if black {
			for j, v := range img.Pix {
				img.Pix[j] = 255 - v
			}
		}
		if _, err := bw.Write(pwgHeader(img.Bounds().Dx(), img.Bounds().Dy(), dpi, len(l.pages), black)); err != nil {
			return err
		}
		if err := encodePWGPage(bw, img); err != nil {
			return fmt.Errorf("pwg raster page %d: %w", i+1, err)
		}
	}
	return bw.Flush()
}

// CUPS colour spaces used by PWG raster.
const (
	cspaceK     = 3  // black_8
	cspaceSGray = 18 // sgray_8
)

// pwgHeader builds the 1796-byte page header (big-endian, cups_page_header2_t layout).
func pwgHeader(width, height, dpi, pages int, black bool) []byte {
	h := make([]byte, 1796)
	copy(h[0:], "PwgRaster")
	u32 := func(off int, v uint32) { binary.BigEndian.PutUint32(h[off:], v) }
	u32(276, uint32(dpi)) // HWResolution
	u32(280, uint32(dpi))
	u32(340, 1)   // NumCopies
	u32(352, 595) // PageSize, points (A4)
	u32(356, 842)
	u32(372, uint32(width))  // cupsWidth
	u32(376, uint32(height)) // cupsHeight
	u32(384, 8)              // cupsBitsPerColor
	u32(388, 8)              // cupsBitsPerPixel
	u32(392, uint32(width))  // cupsBytesPerLine
	u32(396, 0)              // cupsColorOrder: chunky
	if black {
		u32(400, cspaceK)
	} else {
		u32(400, cspaceSGray)
	}
	u32(420, 1)              // cupsNumColors
	u32(452, uint32(pages))  // TotalPageCount
	u32(456, 1)              // CrossFeedTransform
	u32(460, 1)              // FeedTransform
	u32(472, uint32(width))  // ImageBoxRight
	u32(476, uint32(height)) // ImageBoxBottom
	copy(h[1732:], "iso_a4_210x297mm")
	return h
}

// encodePWGPage writes the page's lines with PWG's run-length scheme: a line repeat count,
// then runs of repeated pixels (count-1, pixel) or literal runs (257-count, pixels).
func encodePWGPage(w *bufio.Writer, img *image.Gray) error {
	width, height := img.Bounds().Dx(), img.Bounds().Dy()
	line := func(y int) []byte { return img.Pix[y*img.Stride : y*img.Stride+width] }
	for y := 0; y < height; {
		cur := line(y)
		rep := 0
		for y+rep+1 < height && rep < 255 && string(line(y+rep+1)) == string(cur) {
			rep++
		}
		if err := w.WriteByte(byte(rep)); err != nil {
			return err
		}
		for x := 0; x < width; {
			n := 1
			for x+n < width && n < 128 && cur[x+n] == cur[x] {
				n++
			}
			if n > 1 || x+1 == width {
				_ = w.WriteByte(byte(n - 1))
				_ = w.WriteByte(cur[x])
				x += n
				continue
			}
			// Literal run: up to 128 pixels until two equal neighbours start a repeat.
			n = 1
			for x+n < width && n < 128 && (x+n+1 >= width || cur[x+n] != cur[x+n+1]) {
				n++
			}
			if n == 1 {
				_ = w.WriteByte(0)
				_ = w.WriteByte(cur[x])
			} else {
				_ = w.WriteByte(byte(257 - n))
				if _, err := w.Write(cur[x : x+n]); err != nil {
					return err
				}
			}
			x += n
		}
		y += rep + 1
	}
	return nil
}
