package escl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// MaxPageBytes bounds one JPEG page: a scanner that never ends a page is a bad page, not a hang.
const MaxPageBytes = 128 << 20

// PDFWriter streams JPEG pages into one PDF: each page's objects are written as the page
// arrives, the JPEG bytes copied through unchanged (DCTDecode); only the object offsets are
// kept for the cross-reference table, so memory does not grow with the page count.
type PDFWriter struct {
	w       *bufio.Writer
	off     int64
	offsets []int64 // by object number; 1 = catalog, 2 = pages
	pages   []int   // page object numbers
	buf     []byte  // copy buffer, reused for every page
	err     error
}

// NewPDFWriter starts a PDF on w.
func NewPDFWriter(w io.Writer) *PDFWriter {
	p := &PDFWriter{w: bufio.NewWriterSize(w, 64<<10), offsets: make([]int64, 3)}
	p.printf("%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n")
	return p
}

func (p *PDFWriter) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.w.Write(b)
	p.off += int64(n)
	p.err = err
	return n, err
}

func (p *PDFWriter) printf(format string, args ...any) {
	fmt.Fprintf(p, format, args...)
}

// begin starts object num and records its offset.
func (p *PDFWriter) begin(num int) {
	for len(p.offsets) <= num {
		p.offsets = append(p.offsets, 0)
	}
	p.offsets[num] = p.off
	p.printf("%d 0 obj\n", num)
}

// errBadPage marks a page that is not a complete JPEG.
var errBadPage = errors.New("page is not a complete jpeg")

// AddJPEG copies one JPEG page into the PDF. dpi sizes the page (the scan's resolution).
// A page that is not a baseline/progressive JPEG, is empty, or lacks its end marker fails
// with a scanner.bad-page error, and the PDF must then be discarded.
func (p *PDFWriter) AddJPEG(r io.Reader, dpi int) error {
	if p.err != nil {
		return p.err
	}
	if dpi <= 0 {
		dpi = 300
	}
	// Decode only the header; keep every byte read so far to write it out after.
	var head bytes.Buffer
	cfg, err := jpeg.DecodeConfig(io.TeeReader(io.LimitReader(r, 1<<20), &head))
	if err != nil {
		p.err = fail(CodeBadPage, fmt.Errorf("%w: %v", errBadPage, err))
		return p.err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		p.err = fail(CodeBadPage, fmt.Errorf("%w: empty image", errBadPage))
		return p.err
	}
	cs := "/DeviceRGB"
	decode := ""
	switch cfg.ColorModel {
	case color.GrayModel:
		cs = "/DeviceGray"
	case color.CMYKModel:
		cs, decode = "/DeviceCMYK", " /Decode [1 0 1 0 1 0 1 0]"
	}
	img := len(p.offsets)
	p.begin(img)
	p.printf("<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8%s /Filter /DCTDecode /Length %d 0 R >>\nstream\n",
		cfg.Width, cfg.Height, cs, decode, img+1)
	start := p.off
	var tail [2]byte
	tw := &tailWriter{w: p, tail: &tail}
	if _, err := tw.Write(head.Bytes()); err != nil {
		return err
	}
	if p.buf == nil {
		p.buf = make([]byte, 32<<10)
	}
	n, err := io.CopyBuffer(tw, io.LimitReader(r, MaxPageBytes+1), p.buf)
	if err != nil {
		if p.err != nil {
			return p.err
		}
		p.err = fail(CodeBadPage, fmt.Errorf("read page: %w", err))
		return p.err
	}
	if n+int64(head.Len()) > MaxPageBytes {
		p.err = fail(CodeBadPage, fmt.Errorf("%w: larger than %d bytes", errBadPage, MaxPageBytes))
		return p.err
	}
	if tail != [2]byte{0xff, 0xd9} {
		p.err = fail(CodeBadPage, fmt.Errorf("%w: no end marker (truncated)", errBadPage))
		return p.err
	}
	length := p.off - start
	p.printf("\nendstream\nendobj\n")
	p.begin(img + 1)
	p.printf("%d\nendobj\n", length)

	// Page size in points from the pixel size and the scan resolution.
	wpt := float64(cfg.Width) * 72 / float64(dpi)
	hpt := float64(cfg.Height) * 72 / float64(dpi)
	content := "q " + num(wpt) + " 0 0 " + num(hpt) + " 0 0 cm /Im0 Do Q\n"
	p.begin(img + 2)
	p.printf("<< /Length %d >>\nstream\n%sendstream\nendobj\n", len(content), content)
	p.begin(img + 3)
	p.printf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>\nendobj\n",
		num(wpt), num(hpt), img, img+2)
	p.pages = append(p.pages, img+3)
	return p.err
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

type tailWriter struct {
	w    io.Writer
	tail *[2]byte
}

func (t *tailWriter) Write(b []byte) (int, error) {
	switch {
	case len(b) >= 2:
		t.tail[0], t.tail[1] = b[len(b)-2], b[len(b)-1]
	case len(b) == 1:
		t.tail[0], t.tail[1] = t.tail[1], b[0]
	}
	return t.w.Write(b)
}

// Pages is the number of pages added.
func (p *PDFWriter) Pages() int { return len(p.pages) }

// Close writes the page tree, catalog, cross-reference table and trailer. It fails for a PDF
// without pages.
func (p *PDFWriter) Close() error {
	if p.err != nil {
		return p.err
	}
	if len(p.pages) == 0 {
		return errors.New("pdf without pages")
	}
	p.begin(2)
	p.printf("<< /Type /Pages /Count %d /Kids [", len(p.pages))
	for _, n := range p.pages {
		p.printf(" %d 0 R", n)
	}
	p.printf(" ] >>\nendobj\n")
	p.begin(1)
	p.printf("<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	xref := p.off
	p.printf("xref\n0 %d\n0000000000 65535 f \n", len(p.offsets))
	for _, o := range p.offsets[1:] {
		p.printf("%010d 00000 n \n", o)
	}
	p.printf("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(p.offsets), xref)
	if p.err != nil {
		return p.err
	}
	return p.w.Flush()
}

// ScanPDF scans with s and streams all pages as one PDF to w, page by page as they arrive.
// On error w holds an unfinished PDF that the caller must discard (ScanToPDF does).
func (c *Client) ScanPDF(ctx context.Context, s Settings, w io.Writer) (int, error) {
	s = s.withDefaults()
	if s.Format != "image/jpeg" {
		return 0, fmt.Errorf("scan to pdf: format %s cannot be assembled", s.Format)
	}
	pw := NewPDFWriter(w)
	pages, err := c.Scan(ctx, s, func(_ int, r io.Reader, used Settings) error {
		return pw.AddJPEG(r, used.Resolution)
	})
	if err != nil {
		return pages, err
	}
	if err := pw.Close(); err != nil {
		return pages, fmt.Errorf("scan to pdf: %w", err)
	}
	return pages, nil
}

// ScanToPDF scans with s and writes all pages as one PDF at path. The file appears only when
// the whole job succeeded (written to a temporary file beside it, synced, then renamed): a
// failed or cancelled job leaves nothing that could be attached as if complete.
func (c *Client) ScanToPDF(ctx context.Context, s Settings, path string) (pages int, err error) {
	s = s.withDefaults()
	if s.Format != "image/jpeg" {
		return 0, fmt.Errorf("scan to pdf: format %s cannot be assembled", s.Format)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".scan-*.pdf.part")
	if err != nil {
		return 0, fmt.Errorf("scan to pdf: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// Scans hold personal documents: readable by the owner only.
	if err = tmp.Chmod(0o600); err != nil {
		return 0, fmt.Errorf("scan to pdf: %w", err)
	}
	if pages, err = c.ScanPDF(ctx, s, tmp); err != nil {
		return pages, err
	}
	if err = tmp.Sync(); err != nil {
		return pages, fmt.Errorf("scan to pdf: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return pages, fmt.Errorf("scan to pdf: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return pages, fmt.Errorf("scan to pdf: %w", err)
	}
	return pages, nil
}
