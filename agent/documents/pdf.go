package documents

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// srgbICC is the ICC's sRGB profile (sRGB2014.icc, freely redistributable, see
// LICENSE.srgb2014), the PDF/A output intent.
//
//go:embed srgb2014.icc
var srgbICC []byte

const xmpTemplate = `<?xpacket begin="` + "\ufeff" + `" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<pdfaid:part>2</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:format>application/pdf</dc:format>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">%s</rdf:li></rdf:Alt></dc:title>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
<xmp:CreateDate>%s</xmp:CreateDate>
<xmp:ModifyDate>%s</xmp:ModifyDate>
<xmp:CreatorTool>koffer</xmp:CreatorTool>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdf:Producer>koffer</pdf:Producer>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>`

// writePDF renders l as PDF/A-2b: fonts embedded (Go fonts, with umlauts and ß), sRGB output
// intent, XMP metadata with the PDF/A identification, a trailer /ID. created is written as
// creation date so the same input gives the same bytes.
func writePDF(l *layout, created time.Time, w io.Writer) error {
	pdf := fpdf.New(fpdf.OrientationPortrait, "mm", "A4", "")
	pdf.SetMargins(0, 0, 0)
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetCatalogSort(true) // same input, same bytes (fpdf iterates maps otherwise)
	pdf.AddUTF8FontFromBytes("Go", "", goregular.TTF)
	pdf.AddUTF8FontFromBytes("Go", "B", gobold.TTF)
	pdf.SetTitle(l.title, true)
	pdf.SetCreator("koffer", true)
	pdf.SetProducer("koffer", true)
	pdf.SetLang("de-DE")
	created = created.UTC().Truncate(time.Second)
	pdf.SetCreationDate(created)
	pdf.SetModificationDate(created)
	stamp := created.Format("2006-01-02T15:04:05Z") // UTC, as the Info dictionary's dates
	pdf.SetXmpMetadata(fmt.Appendf(nil, xmpTemplate, xmlEscape(l.title), stamp, stamp))
	pdf.AddOutputIntent(fpdf.OutputIntentType{
		SubtypeIdent:              fpdf.OutputIntent_GTS_PDFA1,
		OutputConditionIdentifier: "sRGB IEC61966-2.1",
		Info:                      "sRGB IEC61966-2.1",
		ICCProfile:                srgbICC,
	})
	pdf.SetTextColor(0, 0, 0)
	pdf.SetFillColor(0, 0, 0)
	for _, p := range l.pages {
		pdf.AddPage()
		for _, it := range p.items {
			switch it := it.(type) {
			case textItem:
				style := ""
				if it.bold {
					style = "B"
				}
				pdf.SetFont("Go", style, it.size)
				pdf.Text(it.x, it.y, it.s)
			case rectItem:
				pdf.Rect(it.x, it.y, it.w, it.h, "F")
			case codeItem:
				forModules(it, func(x, y, s float64) { pdf.Rect(x, y, s, s, "F") })
			}
		}
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return fmt.Errorf("render pdf: %w", err)
	}
	out, err := fixTrailer(buf.Bytes())
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// forModules calls fill for every dark module of a code item, in mm.
func forModules(it codeItem, fill func(x, y, size float64)) {
	b := it.code.Bounds()
	n := max(b.Dx(), b.Dy())
	m := it.size / float64(n)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, _, _, _ := it.code.At(x, y).RGBA(); r < 0x8000 {
				fill(it.x+float64(x-b.Min.X)*m, it.y+float64(y-b.Min.Y)*m, m)
			}
		}
	}
}

var (
	infoObj    = regexp.MustCompile(`(?m)^(\d+) 0 obj\n<<\n/Producer `)
	trailerRef = regexp.MustCompile(`/Info \d+ 0 R\n`)
)

// fixTrailer works around fpdf 0.12 with output intents: its trailer names the object just
// before the catalog as /Info, but the output intent's ICC stream is written there, so /Info
// points at the ICC profile and the document information is lost (PDF/A validators reject it).
// It also adds the /ID that PDF/A requires. Both edits are after the xref table, so no offset
// moves.
func fixTrailer(pdf []byte) ([]byte, error) {
	info := infoObj.FindSubmatch(pdf)
	if info == nil {
		return nil, fmt.Errorf("pdf: document information dictionary not found")
	}
	at := bytes.LastIndex(pdf, []byte("trailer\n"))
	if at < 0 || !trailerRef.Match(pdf[at:]) {
		return nil, fmt.Errorf("pdf: trailer not found")
	}
	sum := sha256.Sum256(pdf[:at])
	id := fmt.Sprintf("%X", sum[:16])
	trailer := trailerRef.ReplaceAll(pdf[at:], fmt.Appendf(nil, "/Info %s 0 R\n/ID [<%s><%s>]\n", info[1], id, id))
	return append(pdf[:at:at], trailer...), nil
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
