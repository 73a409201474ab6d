package documents

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"koffer/devices/ipp"
	"koffer/devices/ipp/ipptest"
	"koffer/devices/peer"
)

// BenchmarkRender measures render time per certificate: PDF, and PWG raster at 300 dpi. The
// raster figure is also reported as a ratio to poppler's pdftoppm rasterising the same PDF at
// 300 dpi grey (the peer, measured in the same run).
func BenchmarkRender(b *testing.B) {
	for _, tt := range cases() {
		b.Run(tt.name+"/pdf", func(b *testing.B) {
			for b.Loop() {
				if err := WritePDF(tt.cert, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tt.name+"/pwg300", func(b *testing.B) {
			var ours time.Duration
			n := 0
			for b.Loop() {
				start := time.Now()
				if err := WritePWG(tt.cert, 300, false, io.Discard); err != nil {
					b.Fatal(err)
				}
				ours += time.Since(start)
				n++
			}
			b.StopTimer()
			if peerTime := pdftoppmTime(b, tt.cert); peerTime > 0 {
				b.ReportMetric(float64(ours)/float64(n)/float64(peerTime), "x-pdftoppm")
			}
		})
	}
}

func pdftoppmTime(b *testing.B, c Certificate) time.Duration {
	b.Helper()
	tool := peer.Need(b, "pdftoppm")[0]
	dir := b.TempDir()
	file := filepath.Join(dir, "doc.pdf")
	var buf bytes.Buffer
	if err := WritePDF(c, &buf); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	const runs = 3
	start := time.Now()
	for range runs {
		if err := exec.Command(tool, "-gray", "-r", "300", file, filepath.Join(dir, "p")).Run(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / runs
}

var processingTime = regexp.MustCompile(`\[Job (\d+)\] Processing time was ([0-9.]+) seconds`)

// BenchmarkPrintOverhead prints a certificate as PWG raster to ippeveprinter whose print
// command is CUPS' ippevepcl (raster to PCL), and reports koffer's own time per page (render,
// negotiate, send; not the waiting) as a ratio to the printer's processing time for the same
// job, as ippeveprinter logs it. A real printer takes seconds per page; ippevepcl only
// converts, so this ratio is an upper bound.
func BenchmarkPrintOverhead(b *testing.B) {
	pcl := "/usr/sbin/ippevepcl"
	if _, err := os.Stat(pcl); err != nil {
		peer.Missing(b, "ippevepcl not installed")
	}
	p := ipptest.Start(b, ipptest.Options{Formats: []string{"image/pwg-raster"}, Command: pcl})
	c, err := ipp.New(p.URI, ipp.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	doc := Document(sampleMelde())
	var koffer time.Duration
	jobs := map[int]bool{}
	for b.Loop() {
		start := time.Now()
		res, err := c.Print(b.Context(), doc, nil)
		if err != nil {
			b.Fatalf("%v\n%s", err, p.Log)
		}
		koffer += time.Since(start) - res.Printing
		jobs[res.JobID] = true
	}
	b.StopTimer()
	var printer time.Duration
	for _, m := range processingTime.FindAllStringSubmatch(p.Log.String(), -1) {
		id, _ := strconv.Atoi(m[1])
		secs, _ := strconv.ParseFloat(m[2], 64)
		if jobs[id] {
			printer += time.Duration(secs * float64(time.Second))
		}
	}
	if printer == 0 {
		b.Fatalf("no processing times in the printer log:\n%s", p.Log)
	}
	b.ReportMetric(float64(koffer)/float64(len(jobs))/1e6, "koffer-ms/page")
	b.ReportMetric(float64(printer)/float64(len(jobs))/1e6, "printer-ms/page")
	b.ReportMetric(float64(koffer)/float64(printer), "koffer/printer")
}
