package uplink_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"koffer/sync/uplink"
)

// benchSizes: the queue (20 cases, 1-5 MB scans) with KOFFER_SYNC_FULL=1 (about 20
// minutes at 1 Mbit/s); by default 20 cases of 100-500 KB.
func benchSizes() (n, minKB, maxKB int) {
	if os.Getenv("KOFFER_SYNC_FULL") != "" {
		return 20, 1 << 10, 5 << 10
	}
	return 20, 100, 500
}

// BenchmarkSyncGoodput drains a 20-case queue over a shaped link (1 Mbit/s, 150 ms each way)
// and, in the same run, sends the same number of bytes in one plain HTTP PUT over an
// identically shaped link. goodput_ratio = PUT time / sync time (target >= 0.95).
func BenchmarkSyncGoodput(b *testing.B) {
	for range b.N {
		n, lo, hi := benchSizes()
		e := newEnv(b)
		e.shape(150, 125)
		e.seal(n, lo, hi)
		var total int64
		for _, it := range e.outbox.snapshot() {
			total += it.Size
		}
		u := e.uplink(func(o *uplink.Options) { o.StallTimeout = 20 * time.Second })
		start := time.Now()
		e.drain(u, 60*time.Minute)
		syncTime := time.Since(start)
		e.verify(nil)

		putTime := plainPut(b, total)
		b.ReportMetric(float64(total)/syncTime.Seconds()/1000, "sync_kB/s")
		b.ReportMetric(float64(total)/putTime.Seconds()/1000, "put_kB/s")
		b.ReportMetric(putTime.Seconds()/syncTime.Seconds(), "goodput_ratio")
		b.ReportMetric(float64(u.State().BytesSent-total), "bytes_resent")
	}
}

// plainPut sends size bytes in one HTTP PUT through a link shaped like env.shape(150, 125).
func plainPut(b *testing.B, size int64) time.Duration {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ts := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(ts, "put", "127.0.0.1:0", srv.Listener.Addr().String())
	require.NoError(b, p.Start())
	defer p.Stop()
	pe := &env{t: b, proxy: p}
	pe.shape(150, 125)
	data := make([]byte, size)
	start := time.Now()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, "http://"+p.Listen+"/", bytes.NewReader(data))
	require.NoError(b, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b, err)
	_ = resp.Body.Close()
	require.Equal(b, http.StatusNoContent, resp.StatusCode)
	return time.Since(start)
}

// BenchmarkResumeAfterCut uploads one 1 MiB packet over the shaped link, cuts the link after
// the town hall holds 300 KiB, for 3 s, and reports the seconds from the link's return to the
// upload resuming (target <= 2 s), the bytes sent twice, and the bytes that were in flight
// (handed to the network, not at the town hall) at the cut: re-sent should not exceed them.
func BenchmarkResumeAfterCut(b *testing.B) {
	for range b.N {
		e := newEnv(b)
		e.shape(150, 125)
		e.seal(1, 1<<10, 1<<10)
		var size int64
		for _, it := range e.outbox.snapshot() {
			size = it.Size
		}
		u := e.uplink(func(o *uplink.Options) {
			o.StallTimeout = 20 * time.Second
			o.LinkRetryBase, o.LinkRetryMax = 250*time.Millisecond, time.Second // the defaults
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		done := make(chan error, 1)
		go func() { done <- u.Run(ctx) }()
		for e.uploadedBytes() < 300<<10 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		e.proxy.Stop()
		sentAtCut := u.State().BytesSent
		time.Sleep(3 * time.Second)
		inFlight := sentAtCut - e.uploadedBytes()
		resumes := u.State().Resumes
		back := time.Now()
		require.NoError(b, e.proxy.Start())
		for u.State().Resumes == resumes && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		resumed := time.Since(back)
		for e.outbox.pending() > 0 && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		require.NoError(b, <-done)
		e.verify(nil)
		b.ReportMetric(resumed.Seconds(), "s_to_resume")
		b.ReportMetric(float64(u.State().BytesSent-size), "bytes_resent")
		b.ReportMetric(float64(inFlight), "bytes_in_flight_at_cut")
	}
}
