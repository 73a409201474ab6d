// Package scanpdf assembles scanned JPEG pages into one PDF as they arrive. Each page's JPEG is
// embedded unchanged (DCTDecode, no re-encoding) and written to the output at once, so memory
// stays flat however many pages a feeder delivers. WriteFile only makes the file visible under
// its name once the document is complete.
//
// Why not pdfcpu or fpdf: both build the whole document in memory before writing it, which is
// what this package must avoid; a PDF of image pages is a handful of objects, and pdfcpu and
// pdfinfo validate the result in the tests.
package scanpdf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"

	"koffer/devices"
)

// MaxPageSize bounds one page's JPEG (a 600 dpi colour A4 page is well under 50 MiB).
const MaxPageSize = 256 << 20

// CodeBadPage is the device error code of a page that is not a usable JPEG.
const CodeBadPage = "scanner.bad-page"

const hintBadPage = "Eine gescannte Seite ist beschädigt. Bitte den Scan wiederholen."

// ErrNoPages is returned by Close when no page was added: an empty PDF is not a document.
var ErrNoPages = errors.New("scanpdf: no pages")

// Writer writes a PDF of JPEG pages to an io.Writer.
type Writer struct {
	out     *bufio.Writer
	n       int64   // bytes written so far
	offsets []int64 // offsets[i] is where object i starts; objects 1 (catalog), 2 (pages)
	kids    []int   // page object numbers
	copyBuf [32 << 10]byte
	err     error
	closed  bool
}

// Options for a Writer; the zero value is the default. (None yet: kept so callers need not
// change when one is added.)
type Options struct{}

// NewWriter starts a PDF on w.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	pw := &Writer{out: bufio.NewWriterSize(w, 64<<10), offsets: make([]int64, 3)}
	pw.printf("%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n")
	return pw, pw.err
}

// Pages returns how many pages were added.
func (w *Writer) Pages() int { return len(w.kids) }

func (w *Writer) printf(format string, a ...any) {
	if w.err != nil {
		return
	}
	n, err := fmt.Fprintf(w.out, format, a...)
	w.n += int64(n)
	w.err = err
}

func (w *Writer) beginObj() int {
	w.offsets = append(w.offsets, w.n)
	num := len(w.offsets) - 1
	w.printf("%d 0 obj\n", num)
	return num
}

// AddJPEG streams one JPEG page from r into the PDF as a page of dpiX x dpiY resolution.
// Only the JPEG header is held in memory (to read the size); the rest goes straight to the
// output. A page that is not a JPEG is refused with a *devices.Error (scanner.bad-page)
// before anything of it is written; a page that breaks off or turns out truncated also fails,
// and then the Writer is unusable (WriteFile discards the file).
func (w *Writer) AddJPEG(r io.Reader, dpiX, dpiY int) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("scanpdf: add after close")
	}
	if dpiX <= 0 || dpiY <= 0 {
		return fmt.Errorf("scanpdf: bad resolution %dx%d", dpiX, dpiY)
	}
	var head bytes.Buffer
	cfg, err := jpeg.DecodeConfig(io.TeeReader(io.LimitReader(r, maxHeader), &head))
	if err != nil {
		var ue jpeg.UnsupportedError
		if errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || isFormatError(err) {
			return badPage(fmt.Errorf("page is not a jpeg: %w", err))
		}
		return fmt.Errorf("scanpdf: read page: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return badPage(errors.New("page has no size"))
	}
	var cs string
	switch cfg.ColorModel {
	case color.GrayModel:
		cs = "DeviceGray"
	case color.YCbCrModel, color.RGBAModel:
		cs = "DeviceRGB"
	case color.CMYKModel:
		cs = "DeviceCMYK"
	default:
		return badPage(errors.New("page jpeg has an unknown colour model"))
	}
	wPt := float64(cfg.Width) * 72 / float64(dpiX)
	hPt := float64(cfg.Height) * 72 / float64(dpiY)

	img := w.beginObj()
	lengthObj := img + 1 // written right after the stream, when the length is known
	w.printf("<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s /BitsPerComponent 8 /Filter /DCTDecode /Length %d 0 R >>\nstream\n",
		cfg.Width, cfg.Height, cs, lengthObj)
	if w.err != nil {
		return w.err
	}
	tail := &tailWriter{w: w.out}
	n, err := io.CopyBuffer(tail, io.MultiReader(&head, io.LimitReader(r, MaxPageSize+1-int64(head.Len()))), w.copyBuf[:])
	w.n += n
	switch {
	case err != nil:
		// The page did not arrive whole: the device or the link failed mid-page.
		w.err = fmt.Errorf("scanpdf: read page: %w", err)
		return w.err
	case n > MaxPageSize:
		w.err = badPage(fmt.Errorf("page larger than %d bytes", MaxPageSize))
		return w.err
	case !bytes.Contains(tail.last(), []byte{0xff, 0xd9}):
		// A JPEG ends with EOI (FF D9); some devices pad a few bytes after it.
		w.err = badPage(errors.New("page jpeg is truncated (no end marker)"))
		return w.err
	}
	w.printf("\nendstream\nendobj\n")
	w.offsets = append(w.offsets, w.n)
	w.printf("%d 0 obj\n%d\nendobj\n", lengthObj, n)

	content := fmt.Sprintf("q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q", wPt, hPt)
	cont := w.beginObj()
	w.printf("<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(content), content)

	page := w.beginObj()
	w.printf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>\nendobj\n",
		wPt, hPt, img, cont)
	w.kids = append(w.kids, page)
	if w.err == nil {
		w.err = w.out.Flush() // the page is on its way to disk, not held here
	}
	return w.err
}

// maxHeader bounds the JPEG bytes read to find the frame header (EXIF and ICC segments come
// first; scanners keep them small).
const maxHeader = 1 << 20

func isFormatError(err error) bool {
	var fe jpeg.FormatError
	return errors.As(err, &fe)
}

// tailWriter passes bytes on and remembers the last 64 of them.
type tailWriter struct {
	w   io.Writer
	buf [64]byte
	n   int // bytes in buf
}

func (t *tailWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	q := p[:n]
	if len(q) >= len(t.buf) {
		copy(t.buf[:], q[len(q)-len(t.buf):])
		t.n = len(t.buf)
	} else {
		keep := min(t.n, len(t.buf)-len(q))
		copy(t.buf[:], t.buf[t.n-keep:t.n])
		copy(t.buf[keep:], q)
		t.n = keep + len(q)
	}
	return n, err
}

func (t *tailWriter) last() []byte { return t.buf[:t.n] }

func badPage(err error) error {
	return &devices.Error{Kind: devices.Scanner, Code: CodeBadPage, Hint: hintBadPage, Err: fmt.Errorf("scanpdf: %w", err)}
}

// Close writes the page tree, catalog, cross-reference table and trailer. It returns
// ErrNoPages for a document without pages. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if len(w.kids) == 0 {
		return ErrNoPages
	}
	w.offsets[2] = w.n
	w.printf("2 0 obj\n<< /Type /Pages /Count %d /Kids [", len(w.kids))
	for _, k := range w.kids {
		w.printf("%d 0 R ", k)
	}
	w.printf("] >>\nendobj\n")
	w.offsets[1] = w.n
	w.printf("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	info := len(w.offsets)
	w.offsets = append(w.offsets, w.n)
	w.printf("%d 0 obj\n<< /Producer (koffer) >>\nendobj\n", info)
	xref := w.n
	w.printf("xref\n0 %d\n0000000000 65535 f \n", len(w.offsets))
	for _, off := range w.offsets[1:] {
		w.printf("%010d 00000 n \n", off)
	}
	w.printf("trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(w.offsets), info, xref)
	if w.err == nil {
		w.err = w.out.Flush()
	}
	return w.err
}

// WriteFile writes a PDF to path through fill, which adds the pages. The document is written
// to a temporary file next to path, synced, and renamed to path only when fill and Close
// succeed; on any failure nothing is left at path and the temporary file is removed.
func WriteFile(path string, fill func(*Writer) error) (pages int, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".part-*")
	if err != nil {
		return 0, fmt.Errorf("scanpdf: create: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	w, err := NewWriter(tmp, Options{})
	if err != nil {
		return 0, err
	}
	if err := fill(w); err != nil {
		_ = w.Close()
		return w.Pages(), err
	}
	if err := w.Close(); err != nil {
		return w.Pages(), err
	}
	if err := tmp.Sync(); err != nil {
		return w.Pages(), fmt.Errorf("scanpdf: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return w.Pages(), fmt.Errorf("scanpdf: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return w.Pages(), fmt.Errorf("scanpdf: rename: %w", err)
	}
	return w.Pages(), nil
}
