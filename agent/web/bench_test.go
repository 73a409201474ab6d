package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"koffer/agent/web"
)

// percentiles reports p50 and p99 of d in milliseconds.
func percentiles(d []time.Duration) (p50, p99 float64) {
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(q * float64(len(d)-1))
		return float64(d[i]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

// BenchmarkStepServerTime measures the server time of one guided step (save the step, follow
// the redirect, render the next page) over loopback HTTP with the in-memory backend, so the
// figure is the UI layer's own cost. The peer in the same run is a plain http.FileServer
// answering a static page of the same size: ratio = step / static.
func BenchmarkStepServerTime(b *testing.B) {
	h := newHarness(b)
	br := h.browser()
	br.login()
	form := person()
	path, page := br.startCase(web.Meldebescheinigung, "v1")
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page.body)
	}))
	defer static.Close()

	var steps, peers []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		res, err := http.Get(static.URL)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		peers = append(peers, time.Since(t0))

		t0 = time.Now()
		r := br.step(path, page, "weiter", form)
		if r.status != http.StatusSeeOther {
			b.Fatalf("step answered %d", r.status)
		}
		page = br.get(strings.TrimSuffix(r.location, "?ok=1"))
		steps = append(steps, time.Since(t0))
		path = strings.TrimSuffix(r.location, "?ok=1")
		// Go back to the first step so every iteration saves the same step.
		path = strings.Replace(path, "/auszug", "/person", 1)
		page = br.get(path)
	}
	p50, p99 := percentiles(steps)
	s50, s99 := percentiles(peers)
	b.ReportMetric(p50, "step-p50-ms")
	b.ReportMetric(p99, "step-p99-ms")
	b.ReportMetric(p50/s50, "p50/static")
	b.ReportMetric(p99/s99, "p99/static")
}

// BenchmarkFirstPaint measures the first contentful paint of the start page in headless
// chromium, against the same HTML saved as a static file and served by http.FileServer (the
// peer): ratio = start page / static copy.
func BenchmarkFirstPaint(b *testing.B) {
	h := newHarness(b)
	hb := h.browser()
	hb.login()
	start := hb.get("/")
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/static/") {
			http.Redirect(w, r, h.srv.URL+r.URL.Path, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, start.body)
	}))
	defer static.Close()

	br := newBrowser(b, h.srv.URL)
	br.login()
	fcp := func(u string) float64 {
		br.do(chromedp.Navigate(u))
		v, err := chromedp.Run(br.ctx, chromedp.Evaluate[float64](`new Promise(res => {
			const e = performance.getEntriesByName('first-contentful-paint')[0];
			if (e) { res(e.startTime); return; }
			new PerformanceObserver(l => res(l.getEntries()[0].startTime)).observe({type: 'paint', buffered: true});
		})`, chromedp.EvalAwaitPromise))
		require.NoError(b, err)
		return v
	}
	var ours, peers []time.Duration
	b.ResetTimer()
	for b.Loop() {
		peers = append(peers, time.Duration(fcp(static.URL+"/")*float64(time.Millisecond)))
		ours = append(ours, time.Duration(fcp(h.srv.URL+"/")*float64(time.Millisecond)))
	}
	p50, p99 := percentiles(ours)
	s50, _ := percentiles(peers)
	b.ReportMetric(p50, "fcp-p50-ms")
	b.ReportMetric(p99, "fcp-p99-ms")
	b.ReportMetric(p50/s50, "p50/static")
}
