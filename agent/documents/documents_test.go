package documents

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/ipp"
	"koffer/devices/ipp/ipptest"
	"koffer/devices/peer"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/documents")

const golden = "../../testdata/documents"

type docCase struct {
	name   string
	cert   Certificate
	fields [][2]string // label, value as pdftotext -layout shows them on one line
	text   []string    // further phrases that must appear
	absent []string
	// absentFields are labels that must not appear as a field.
	absentFields []string
}

func cases() []docCase {
	return []docCase{
		{name: "meldebescheinigung", cert: sampleMelde(), fields: [][2]string{
			{"Familienname", "Größmann"}, {"Frühere Namen", "Kleinert"}, {"Vornamen", "Jürgen Äneas"}, {"Doktorgrad", "Dr."},
			{"Geburtsdatum", "02.05.1941"}, {"Geburtsort", "Görlitz"}, {"Anschrift", "Straße der Einheit 7, 12345 Müßingen"},
			{"Wohnungsstatus", "Hauptwohnung"},
		}, text: []string{"Meldebescheinigung", "§ 18 Abs. 1", "Müßingen, den 14.03.2026", "Im Auftrag Anna Beispiel", "Vorgang 78KW-9TRT"},
			absentFields: []string{"Eingezogen am"}},
		{name: "anmeldebestaetigung", cert: sampleAnmeldung(), fields: [][2]string{
			{"Familienname", "Größmann"}, {"Vornamen", "Jürgen Äneas"}, {"Doktorgrad", "Dr."},
			{"Geburtsdatum", "02.05.1941"}, {"Anschrift", "Sonnenstraße 3, 12345 Müßingen"},
			{"Einzugsdatum", "01.03.2026"}, {"Tag der Anmeldung", "14.03.2026"}, {"Wohnung", "alleinige Wohnung"},
		}, text: []string{"Meldebestätigung", "§ 24 Abs. 2", "gebührenfrei"},
			// §24(2) BMG: only the eight data; no Ordens-/Künstlername, no birth place.
			absentFields: []string{"Ordens-/Künstlername", "Geburtsort"}},
		{name: "lebensbescheinigung", cert: sampleLeben(), fields: [][2]string{
			{"Rentenversicherung", "Deutsche Rentenversicherung Bund"}, {"Aktenzeichen", "12 020541 G 007"},
		}, text: []string{"Dr. Jürgen Äneas Größmann heute persönlich vor mir erschienen", "eigenhändig unterschrieben",
			"gegenüber: Deutsche Rentenversicherung Bund"}, absent: []string{"der Deutsche"}},
		{name: "ausweis-quittung-offline", cert: sampleQuittung(""), fields: [][2]string{
			{"Antragsteller/in", "Dr. Jürgen Äneas Größmann"}, {"Gebühr", "46,00 EUR"}, {"Zahlungsart", "Bar bezahlt"},
			{"Vorläufige Nummer", "78KW-9TRT"},
		}, text: []string{"Antragsquittung", "sobald eine Verbindung besteht"}, absent: []string{"0195f3a2", "Eingangsbestätigung"},
			absentFields: []string{"Vorgangsnummer"}},
		{name: "ausweis-quittung-synced", cert: sampleQuittung("BA-2026-004711"), fields: [][2]string{
			{"Vorgangsnummer", "BA-2026-004711"}, {"Gebühr", "46,00 EUR"},
		}, absent: []string{"Vorläufige Nummer", "0195f3a2"}},
		{name: "anmeldeformular", cert: sampleFormular(), fields: [][2]string{
			{"Familienname", "Größmann"}, {"Neue Anschrift", "Sonnenstraße 3, 12345 Müßingen"},
		}, text: []string{"Unterschrift der meldepflichtigen Person"}, absent: []string{"Im Auftrag", ", den"},
			absentFields: []string{"Ordens-/Künstlername"}},
		{name: "testseite", cert: sampleTestPage(), fields: [][2]string{
			{"Koffer-ID", "kit-7f3a"}, {"Koffer", "Koffer Süd 2"}, {"Drucker", "Kofferdrucker"}, {"Gedruckt am", "14.03.2026 10:30"},
		}, text: []string{"ÄÖÜ äöü ß"}},
	}
}

func renderPDF(t *testing.T, c Certificate) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WritePDF(c, &b))
	return b.Bytes()
}

func pdfTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(peer.Need(t, name)[0], args...).Output()
	require.NoError(t, err, "%s %v", name, args)
	return string(out)
}

func TestPDFTextHasFields(t *testing.T) {
	for _, tt := range cases() {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "doc.pdf")
			require.NoError(t, os.WriteFile(file, renderPDF(t, tt.cert), 0o600))
			text := pdfTool(t, "pdftotext", "-layout", "-enc", "UTF-8", file, "-")
			for _, f := range tt.fields {
				re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(f[0]) + `\s{2,}` + regexp.QuoteMeta(f[1]) + `\s*$`)
				assert.Regexp(t, re, text, "field %q", f[0])
			}
			flat := strings.Join(strings.Fields(text), " ")
			for _, s := range tt.text {
				assert.Contains(t, flat, s)
			}
			for _, s := range tt.absent {
				assert.NotContains(t, flat, s)
			}
			for _, l := range tt.absentFields {
				assert.NotRegexp(t, regexp.MustCompile(`(?m)^\s*`+regexp.QuoteMeta(l)+`\s{2,}\S`), text)
			}
		})
	}
}

func TestPDFIsPDFA2b(t *testing.T) {
	pdf := renderPDF(t, sampleMelde())
	file := filepath.Join(t.TempDir(), "doc.pdf")
	require.NoError(t, os.WriteFile(file, pdf, 0o600))

	fonts := pdfTool(t, "pdffonts", file)
	lines := strings.Split(strings.TrimSpace(fonts), "\n")
	require.Greater(t, len(lines), 2, fonts)
	for _, l := range lines[2:] {
		cols := strings.Fields(l)
		require.GreaterOrEqual(t, len(cols), 5, l)
		assert.Equal(t, "yes", cols[len(cols)-5], "font not embedded: %s", l)
	}
	info := pdfTool(t, "pdfinfo", file)
	assert.Contains(t, info, "Title:           Meldebescheinigung", "trailer /Info must point at the info dictionary")
	assert.Contains(t, info, "Page size:       595.28 x 841.89 pts (A4)")
	meta := pdfTool(t, "pdfinfo", "-meta", file)
	assert.Contains(t, meta, "<pdfaid:part>2</pdfaid:part>")
	assert.Contains(t, meta, "<pdfaid:conformance>B</pdfaid:conformance>")
	assert.Regexp(t, `/OutputIntents \[\n?<< /Type /OutputIntent /S /GTS_PDFA1`, string(pdf))
	assert.Regexp(t, `/ID \[<[0-9A-F]{32}><[0-9A-F]{32}>\]`, string(pdf))
}

// pdfcpu's strict validation reads every object, the xref table and the trailer.
func TestPDFValidatesStrictly(t *testing.T) {
	api.DisableConfigDir() // no config files in the user's home
	for _, tt := range cases() {
		t.Run(tt.name, func(t *testing.T) {
			conf := model.NewDefaultConfiguration()
			conf.ValidationMode = model.ValidationStrict
			assert.NoError(t, api.Validate(bytes.NewReader(renderPDF(t, tt.cert)), conf))
		})
	}
}

func TestGolden(t *testing.T) {
	for _, tt := range cases() {
		t.Run(tt.name, func(t *testing.T) {
			got := renderPDF(t, tt.cert)
			again := renderPDF(t, tt.cert)
			require.Equal(t, got, again, "rendering must be deterministic")
			file := filepath.Join(golden, tt.name+".pdf")
			if *update {
				require.NoError(t, os.MkdirAll(golden, 0o755))
				require.NoError(t, os.WriteFile(file, got, 0o644))
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err, "run go test -update to create the golden file")
			assert.True(t, bytes.Equal(want, got), "%s differs from golden file (go test -update to accept)", file)
		})
	}
}

// decodePWG reads PWG raster as 8-bit grey pages (0 black), for the tests.
func decodePWG(r io.Reader) ([]*image.Gray, error) {
	br := bufio.NewReader(r)
	sync := make([]byte, 4)
	if _, err := io.ReadFull(br, sync); err != nil || string(sync) != "RaS2" {
		return nil, fmt.Errorf("bad sync %q: %v", sync, err)
	}
	var pages []*image.Gray
	hdr := make([]byte, 1796)
	for {
		if _, err := io.ReadFull(br, hdr); errors.Is(err, io.EOF) {
			return pages, nil
		} else if err != nil {
			return nil, err
		}
		w := int(binary.BigEndian.Uint32(hdr[372:]))
		h := int(binary.BigEndian.Uint32(hdr[376:]))
		black := binary.BigEndian.Uint32(hdr[400:]) == cspaceK
		img := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; {
			rep, err := br.ReadByte()
			if err != nil {
				return nil, err
			}
			line := img.Pix[y*img.Stride : y*img.Stride+w]
			for x := 0; x < w; {
				c, err := br.ReadByte()
				if err != nil {
					return nil, err
				}
				if c < 128 {
					v, err := br.ReadByte()
					if err != nil {
						return nil, err
					}
					for i := 0; i <= int(c) && x < w; i++ {
						line[x] = v
						x++
					}
				} else {
					n := 257 - int(c)
					if x+n > w {
						return nil, fmt.Errorf("literal run past line end")
					}
					if _, err := io.ReadFull(br, line[x:x+n]); err != nil {
						return nil, err
					}
					x += n
				}
			}
			for i := 1; i <= int(rep) && y+i < h; i++ {
				copy(img.Pix[(y+i)*img.Stride:], line)
			}
			y += int(rep) + 1
		}
		if black {
			for i, v := range img.Pix {
				img.Pix[i] = 255 - v
			}
		}
		pages = append(pages, img)
	}
}

// readPGM reads a binary PGM (P5) as pdftoppm -gray writes it.
func readPGM(file string) (*image.Gray, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var w, h, maxv int
	fields := 0
	i := 2
	vals := []*int{&w, &h, &maxv}
	for fields < 3 {
		for data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t' {
			i++
		}
		j := i
		for data[j] >= '0' && data[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(string(data[i:j]))
		if err != nil {
			return nil, err
		}
		*vals[fields] = n
		fields++
		i = j
	}
	i++
	img := image.NewGray(image.Rect(0, 0, w, h))
	copy(img.Pix, data[i:])
	return img, nil
}

// blockDiff compares two pages in blocks of n pixels: the mean and the largest difference
// of block averages (0-255). Small misalignments and different anti-aliasing average out.
func blockDiff(a, b *image.Gray, n int) (mean, worst float64) {
	w := min(a.Bounds().Dx(), b.Bounds().Dx())
	h := min(a.Bounds().Dy(), b.Bounds().Dy())
	var sum float64
	blocks := 0
	for by := 0; by+n <= h; by += n {
		for bx := 0; bx+n <= w; bx += n {
			var sa, sb int
			for y := by; y < by+n; y++ {
				for x := bx; x < bx+n; x++ {
					sa += int(a.GrayAt(x, y).Y)
					sb += int(b.GrayAt(x, y).Y)
				}
			}
			d := float64(sa-sb) / float64(n*n)
			if d < 0 {
				d = -d
			}
			sum += d
			worst = max(worst, d)
			blocks++
		}
	}
	return sum / float64(blocks), worst
}

func pdfPages(t *testing.T, pdf []byte, dpi int) []*image.Gray {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "doc.pdf")
	require.NoError(t, os.WriteFile(file, pdf, 0o600))
	pdfTool(t, "pdftoppm", "-gray", "-r", strconv.Itoa(dpi), file, filepath.Join(dir, "page"))
	files, err := filepath.Glob(filepath.Join(dir, "page-*.pgm"))
	require.NoError(t, err)
	var pages []*image.Gray
	for _, f := range files {
		img, err := readPGM(f)
		require.NoError(t, err)
		pages = append(pages, img)
	}
	return pages
}

func rasterPages(t *testing.T, c Certificate, dpi int, black bool) []*image.Gray {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WritePWG(c, dpi, black, &b))
	pages, err := decodePWG(&b)
	require.NoError(t, err)
	return pages
}

const (
	cmpDPI   = 100
	cmpBlock = 8
	// Tolerances on 8x8 block averages at 100 dpi (0-255 scale).
	maxMeanDiff  = 2.0
	maxBlockDiff = 60.0
)

func TestRasterMatchesPDF(t *testing.T) {
	for _, tt := range cases() {
		t.Run(tt.name, func(t *testing.T) {
			want := pdfPages(t, renderPDF(t, tt.cert), cmpDPI)
			for _, black := range []bool{false, true} {
				got := rasterPages(t, tt.cert, cmpDPI, black)
				require.Equal(t, len(want), len(got), "page count")
				for i := range want {
					assert.InDelta(t, want[i].Bounds().Dx(), got[i].Bounds().Dx(), 1)
					assert.InDelta(t, want[i].Bounds().Dy(), got[i].Bounds().Dy(), 1)
					mean, worst := blockDiff(want[i], got[i], cmpBlock)
					t.Logf("page %d black=%v: mean block diff %.2f, worst %.1f", i+1, black, mean, worst)
					assert.Less(t, mean, maxMeanDiff, "page %d", i+1)
					assert.Less(t, worst, maxBlockDiff, "page %d", i+1)
				}
			}
		})
	}
}

// The comparison must be able to fail: two different certificates do not pass it.
func TestRasterComparisonDetectsDifferentPages(t *testing.T) {
	pdf := pdfPages(t, renderPDF(t, sampleMelde()), cmpDPI)
	other := rasterPages(t, sampleAnmeldung(), cmpDPI, false)
	mean, worst := blockDiff(pdf[0], other[0], cmpBlock)
	assert.False(t, mean < maxMeanDiff && worst < maxBlockDiff, "different documents passed: mean %.2f worst %.1f", mean, worst)
}

// ippeveprinter without PDF, with CUPS' own PWG-to-PCL converter (ippevepcl) as print
// command: the spooled raster is what koffer rendered, and ippevepcl turned it into a PCL
// raster page (it writes nothing useful from a broken raster, and exits 0 either way).
func TestRasterAcceptedByIppeveprinter(t *testing.T) {
	pcl := "/usr/sbin/ippevepcl"
	if _, err := os.Stat(pcl); err != nil {
		peer.Missing(t, "ippevepcl not installed (cups-ipp-utils)")
	}
	p := ipptest.Start(t, ipptest.Options{Formats: []string{"image/pwg-raster"}, Command: pcl})
	c, err := ipp.New(p.URI, ipp.Options{PollInterval: 100e6})
	require.NoError(t, err)
	cert := sampleLeben()
	res, err := c.Print(t.Context(), Document(cert), nil)
	require.NoError(t, err, "log: %s", p.Log)
	assert.Equal(t, ipp.PWGRaster, res.Format.MIME)

	var want bytes.Buffer
	require.NoError(t, WritePWG(cert, res.Format.Raster.DPI, res.Format.Raster.Type == "black_8", &want))
	got, err := os.ReadFile(p.JobFile(t, res.JobID))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want.Bytes(), got), "spooled raster differs from what koffer renders")
	assert.NotContains(t, p.Log.String(), "Unable to", "ippevepcl complained: %s", p.Log)

	broken := ipp.Document{Name: "kaputt", Raster: func(ipp.RasterSpec) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("RaS2" + strings.Repeat("\xff", 3000))), nil
	}}
	prn := pclOutput(t, p.Spool, res.JobID)
	assert.Greater(t, len(prn), 10<<10, "ippevepcl produced almost nothing from our raster")
	assert.Equal(t, 1, bytes.Count(prn, []byte("\x1b*r1A")), "one PCL raster page started")
	assert.Greater(t, bytes.Count(prn, []byte("\x1b*b")), 100, "PCL raster rows")

	// The check can fail: from a broken raster ippevepcl makes no page.
	res2, err := c.Print(t.Context(), broken, nil)
	require.NoError(t, err)
	assert.NotContains(t, string(pclOutput(t, p.Spool, res2.JobID)), "\x1b*r1A")
}

// pclOutput is what ippevepcl wrote for job id (ippeveprinter keeps it as <id>-<name>.prn).
func pclOutput(t *testing.T, spool string, id int) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(spool, strconv.Itoa(id)+"-*.prn"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	return data
}

// The DataMatrix on the printed page holds the case id: read back by libdmtx from the PDF
// as poppler renders it, and from koffer's own raster.
func TestDataMatrixHoldsCaseID(t *testing.T) {
	dmtx := peer.Need(t, "dmtxread")[0]
	cert := sampleQuittung("BA-2026-004711")
	dir := t.TempDir()
	pdfFile := filepath.Join(dir, "doc.pdf")
	require.NoError(t, os.WriteFile(pdfFile, renderPDF(t, cert), 0o600))
	pdfTool(t, "pdftoppm", "-gray", "-r", "150", "-png", "-singlefile", pdfFile, filepath.Join(dir, "pdf"))

	pages := rasterPages(t, cert, 150, true)
	var png bytes.Buffer
	require.NoError(t, encodePNG(&png, pages[0]))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "raster.png"), png.Bytes(), 0o600))

	for _, img := range []string{"pdf.png", "raster.png"} {
		out, err := exec.Command(dmtx, "-N1", "-m", "2000", filepath.Join(dir, img)).Output()
		require.NoError(t, err, img)
		assert.Equal(t, issue.CaseID, strings.TrimSpace(string(out)), img)
	}
}
