package documents

import (
	"fmt"
	"strings"
	"sync"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/datamatrix"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// A4 in millimetres.
const (
	pageW = 210.0
	pageH = 297.0
)

// The one layout both backends draw: positions in millimetres from the top left, text
// positioned by its baseline, sizes in points. PDF and raster therefore agree by construction,
// and the tests check that they do.
type layout struct {
	title string
	pages []*page
}

type page struct{ items []item }

type item interface{ isItem() }

type textItem struct {
	x, y float64 // baseline start, mm
	size float64 // pt
	bold bool
	s    string
}

type rectItem struct{ x, y, w, h float64 } // filled black, mm

type codeItem struct {
	x, y, size float64 // mm; square symbol
	code       barcode.Barcode
}

func (textItem) isItem() {}
func (rectItem) isItem() {}
func (codeItem) isItem() {}

var (
	fontsOnce             sync.Once
	fontRegular, fontBold *opentype.Font
	fontsErr              error
)

func fonts() (*opentype.Font, *opentype.Font, error) {
	fontsOnce.Do(func() {
		fontRegular, fontsErr = opentype.Parse(goregular.TTF)
		if fontsErr == nil {
			fontBold, fontsErr = opentype.Parse(gobold.TTF)
		}
	})
	return fontRegular, fontBold, fontsErr
}

// measure returns the advance width of s in mm at size pt.
func measure(s string, size float64, bold bool) float64 {
	reg, b, err := fonts()
	if err != nil {
		return float64(len(s)) * size * 0.2
	}
	f := reg
	if bold {
		f = b
	}
	// 72 dpi: one point per pixel, so the advance is in points.
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return float64(len(s)) * size * 0.2
	}
	defer face.Close()
	adv := font.MeasureString(face, s)
	return float64(adv) / 64 * 25.4 / 72
}

// builder lays out text top to bottom with page breaks.
type builder struct {
	l    *layout
	cur  *page
	y    float64 // next baseline, mm
	left float64
}

const (
	marginLeft   = 25.0
	marginRight  = 20.0
	marginTop    = 25.0
	marginBottom = 25.0
)

func newBuilder(title string) *builder {
	b := &builder{l: &layout{title: title}, left: marginLeft}
	b.newPage()
	return b
}

func (b *builder) newPage() {
	b.cur = &page{}
	b.l.pages = append(b.l.pages, b.cur)
	b.y = marginTop
}

func lineHeight(size float64) float64 { return size * 1.4 * 25.4 / 72 }

func (b *builder) room(h float64) {
	if b.y+h > pageH-marginBottom {
		b.newPage()
	}
}

// text writes s wrapped to the text width, starting at the left margin plus indent.
func (b *builder) text(s string, size float64, bold bool) {
	b.textAt(0, s, size, bold)
}

func (b *builder) textAt(indent float64, s string, size float64, bold bool) {
	width := pageW - marginRight - b.left - indent
	for _, line := range wrap(s, size, bold, width) {
		b.room(lineHeight(size))
		b.y += lineHeight(size) * 0.75
		b.cur.items = append(b.cur.items, textItem{x: b.left + indent, y: b.y, size: size, bold: bold, s: line})
		b.y += lineHeight(size) * 0.25
	}
}

// field writes "label" in a left column and value next to it.
func (b *builder) field(label, value string) {
	const size, col = 11.0, 62.0
	if value == "" {
		value = "–"
	}
	lines := wrap(value, size, true, pageW-marginRight-b.left-col)
	b.room(lineHeight(size) * float64(len(lines)))
	b.y += lineHeight(size) * 0.75
	b.cur.items = append(b.cur.items, textItem{x: b.left, y: b.y, size: size, s: label})
	for i, line := range lines {
		if i > 0 {
			b.y += lineHeight(size)
		}
		b.cur.items = append(b.cur.items, textItem{x: b.left + col, y: b.y, size: size, bold: true, s: line})
	}
	b.y += lineHeight(size) * 0.25
}

func (b *builder) gap(mm float64) { b.y += mm }

func (b *builder) rule() {
	b.gap(2)
	b.cur.items = append(b.cur.items, rectItem{x: b.left, y: b.y, w: pageW - marginRight - b.left, h: 0.4})
	b.gap(3)
}

// code puts a DataMatrix holding content at the top right of the first page.
func (b *builder) code(content string) error {
	c, err := datamatrix.Encode(content)
	if err != nil {
		return fmt.Errorf("encode datamatrix: %w", err)
	}
	const size = 22.0
	first := b.l.pages[0]
	first.items = append(first.items, codeItem{x: pageW - marginRight - size, y: marginTop - 10, size: size, code: c})
	return nil
}

// footer puts a small line at the bottom of every page.
func (b *builder) footer(s string) {
	for i, p := range b.l.pages {
		line := fmt.Sprintf("%s · Seite %d von %d", s, i+1, len(b.l.pages))
		p.items = append(p.items, textItem{x: marginLeft, y: pageH - 12, size: 8, s: line})
	}
}

// wrap breaks s into lines no wider than width mm; explicit newlines are kept.
func wrap(s string, size float64, bold bool, width float64) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			out = append(out, "")
			continue
		}
		line := words[0]
		for _, w := range words[1:] {
			if measure(line+" "+w, size, bold) > width {
				out = append(out, line)
				line = w
				continue
			}
			line += " " + w
		}
		out = append(out, line)
	}
	return out
}

// fixedMM converts mm to 26.6 fixed pixels at dpi.
func fixedMM(mm float64, dpi int) fixed.Int26_6 {
	return fixed.Int26_6(mm / 25.4 * float64(dpi) * 64)
}
