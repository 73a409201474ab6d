package escl_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
)

// peakHeap samples the live heap (as marked by the latest GC, so garbage awaiting collection
// does not count) every millisecond until stop is called, and returns the highest value seen.
func peakHeap() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var (
		peak uint64
		wg   sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { cancel(); wg.Wait(); return peak }
}

// BenchmarkADFJob scans feeder jobs of 10 and of 50 A4 pages (300 dpi grey, the document
// profile) from the test scanner (Kyocera capabilities) into a PDF file.
//
// "rendered": the scanner renders and JPEG-encodes every page, which is its own time
// ("server-ns/page"); koffer's time is the rest of the wall time ("koffer-ns/page") and
// "koffer/server" their ratio. The design asks <= 0.05 against a real device, whose own time per
// page is seconds; this server needs far less, so the ratio here is an upper bound.
// "prerendered": the scanner sends one encoded page (rendered before timing) for every page, so
// "alloc-B/page" is koffer's own allocation per page (plus the HTTP server's plumbing).
// In both, "peak-heap-MB" is the highest live heap seen during a job: flat from 10 to 50 pages.
func BenchmarkADFJob(b *testing.B) {
	caps := escltest.Fixture(b, kyoceraCaps)
	for _, prerender := range []bool{false, true} {
		for _, pages := range []int{10, 50} {
			mode := "rendered"
			if prerender {
				mode = "prerendered"
			}
			b.Run(fmt.Sprintf("%s/pages=%d", mode, pages), func(b *testing.B) {
				srv := escltest.New(b, escltest.Options{Capabilities: caps, Prerender: prerender})
				c, err := escl.New(srv.BaseURL(), escl.Options{Logger: slog.New(slog.DiscardHandler),
					Quirks: &escl.Quirks{BusyRetries: 3}})
				if err != nil {
					b.Fatal(err)
				}
				dir := b.TempDir()
				job := func() {
					n, err := c.ScanToPDF(b.Context(), escl.DocumentSettings(escl.ADF), filepath.Join(dir, "job.pdf"))
					if err != nil || n == 0 {
						b.Fatalf("scanned %d pages: %v", n, err)
					}
				}
				srv.Load(1)
				job() // warm up: connection, and the prerendered page
				b.ReportAllocs()
				var (
					wall, server time.Duration
					peak, alloc  uint64
					ms           runtime.MemStats
				)
				for b.Loop() {
					b.StopTimer()
					srv.Load(pages)
					server0 := srv.ServerTime()
					runtime.GC()
					runtime.ReadMemStats(&ms)
					alloc0 := ms.TotalAlloc
					stop := peakHeap()
					b.StartTimer()
					start := time.Now()
					job()
					wall += time.Since(start)
					b.StopTimer()
					peak = max(peak, stop())
					runtime.ReadMemStats(&ms)
					alloc += ms.TotalAlloc - alloc0
					server += srv.ServerTime() - server0
					b.StartTimer()
				}
				total := float64(b.N * pages)
				b.ReportMetric(float64(wall-server)/total, "koffer-ns/page")
				b.ReportMetric(float64(server)/total, "server-ns/page")
				if !prerender {
					b.ReportMetric(float64(wall-server)/float64(server), "koffer/server")
				}
				b.ReportMetric(float64(alloc)/total, "alloc-B/page")
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			})
		}
	}
}
