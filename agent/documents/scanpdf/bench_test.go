package scanpdf_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"koffer/agent/documents/scanpdf"
	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
)

// BenchmarkScanADF measures a whole feeder job into a PDF on disk against the server's own
// time (the same pages fetched by a bare HTTP loop into io.Discard, same process, same run).
// scan=0s is the harshest comparison (the server only re-sends a cached page); scan=20ms adds
// a device's scanning time, far less than a real scanner's.
// Metrics: koffer-ms/page, server-ms/page, overhead-ms/page (koffer minus server),
// koffer/server (the ratio), and peak-heap-MB, the
// highest heap above the start during one koffer job run with GOGC=5: it must not grow
// with pages.
func BenchmarkScanADF(b *testing.B) {
	cases := []struct {
		pages int
		scan  time.Duration // the device's own time per page
	}{
		{pages: 10}, {pages: 50}, {pages: 100},
		{pages: 50, scan: 20 * time.Millisecond}, // a device far faster than any real one (~1 s/page)
	}
	for _, tc := range cases {
		pages := tc.pages
		b.Run(fmt.Sprintf("pages=%d/scan=%s", pages, tc.scan), func(b *testing.B) {
			srv := escltest.NewFromFixture(b, "Kyocera-ECOSYS-M2040dn", escltest.Behaviour{ADFPages: pages, PageDelay: tc.scan})
			hs := httptest.NewServer(srv)
			defer hs.Close()
			c, err := escl.New(hs.URL+"/eSCL", escl.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			caps, err := c.Capabilities(ctx)
			if err != nil {
				b.Fatal(err)
			}
			set, err := caps.Settings(escl.Profile{Source: escl.Feeder}, c.Quirks())
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			_ = escltest.RenderPage(set) // render outside the timings
			var kofferT, serverT time.Duration
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if n := rawFetch(b, hs.URL, set); n != pages {
					b.Fatalf("server sent %d pages, want %d", n, pages)
				}
				serverT += time.Since(t0)

				t0 = time.Now()
				n, err := scanpdf.WriteFile(filepath.Join(dir, fmt.Sprintf("scan-%d.pdf", i)), func(w *scanpdf.Writer) error {
					_, err := c.Scan(ctx, caps, set, func(p *escl.Page) error {
						return w.AddJPEG(p.Body, set.Resolution.X, set.Resolution.Y)
					})
					return err
				})
				kofferT += time.Since(t0)
				if err != nil || n != pages {
					b.Fatalf("scan: %d pages, %v", n, err)
				}
			}
			b.StopTimer()
			peak := peakHeap(b, func() (int, error) {
				return scanpdf.WriteFile(filepath.Join(dir, "peak.pdf"), func(w *scanpdf.Writer) error {
					_, err := c.Scan(ctx, caps, set, func(p *escl.Page) error {
						return w.AddJPEG(p.Body, set.Resolution.X, set.Resolution.Y)
					})
					return err
				})
			})
			perPage := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N*pages) }
			b.ReportMetric(perPage(kofferT), "koffer-ms/page")
			b.ReportMetric(perPage(serverT), "server-ms/page")
			b.ReportMetric(perPage(kofferT-serverT), "overhead-ms/page")
			b.ReportMetric(float64(kofferT)/float64(serverT), "koffer/server")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// rawFetch is the server's own time: one job, every page read into io.Discard, no checks.
func rawFetch(b *testing.B, base string, set escl.Settings) int {
	resp, err := http.Post(base+"/eSCL/ScanJobs", "text/xml", strings.NewReader(string(set.Document())))
	if err != nil {
		b.Fatal(err)
	}
	_ = resp.Body.Close()
	loc := resp.Header.Get("Location")
	job := loc[strings.Index(loc, "/eSCL/"):]
	n := 0
	for {
		r, err := http.Get(base + job + "/NextDocument")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return n
		}
		n++
	}
}

// peakHeap runs job once with the collector at GOGC=5, so that the sampled heap is close to
// what is live rather than to the collector's pacing, and returns the peak above the start.
func peakHeap(b *testing.B, job func() (int, error)) uint64 {
	old := debug.SetGCPercent(5)
	defer debug.SetGCPercent(old)
	stop := sampleHeap()
	_, err := job()
	peak := stop()
	if err != nil {
		b.Fatal(err)
	}
	return peak
}

// sampleHeap starts sampling the live heap every 200µs; the returned func stops and returns
// the peak above the heap at the start.
func sampleHeap() func() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var peak uint64
	wg.Go(func() {
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if v := read(); v > peak {
				peak = v
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		cancel()
		wg.Wait()
		if peak < base {
			return 0
		}
		return peak - base
	}
}
