package agent

import (
	"context"
	"crypto/rand"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"koffer/agent/client"
	"koffer/agent/localapi"
	"koffer/store"
)

// BenchmarkSubmitDurable measures submit-to-durable: Agent.Submit from the request to the
// commit of the sealed packet's outbox row (validation, sealing, packet fsync, directory fsync,
// transaction with synchronous=FULL). Its peer, measured in the same loop, is a bare SQLite
// insert of the same number of bytes into a database opened with the same DSN (WAL,
// synchronous=FULL, BEGIN IMMEDIATE). Reported: p50/p99 of both, cases/s, and the ratios.
func BenchmarkSubmitDurable(b *testing.B) {
	a := newTestAgent(b, Options{})
	benchSubmit(b, a, func(ctx context.Context, req localapi.SubmitRequest) (localapi.SubmitResponse, error) {
		return a.Submit(ctx, req)
	})
}

// BenchmarkSubmitSocket is the same measurement through the CLI's path: the Go client, HTTP
// over the unix socket, the local API handler, then Submit.
func BenchmarkSubmitSocket(b *testing.B) {
	a := newTestAgent(b, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	c := client.New(a.opts.DataDir)
	require.Eventually(b, func() bool { _, err := c.Status(ctx); return err == nil }, 10*time.Second, 5*time.Millisecond)
	benchSubmit(b, a, c.Submit)
}

func benchSubmit(b *testing.B, a *Agent, submit func(context.Context, localapi.SubmitRequest) (localapi.SubmitResponse, error)) {
	req := request(b, "wohnsitzanmeldung")
	ctx := context.Background()

	// Measure one packet's size for the peer.
	req.ID = uuid.Must(uuid.NewV7()).String()
	res, err := submit(ctx, req)
	require.NoError(b, err)
	it, err := a.Store().Outbox(ctx, res.ID)
	require.NoError(b, err)
	payload := make([]byte, it.Size)
	_, _ = rand.Read(payload)

	bare, err := sql.Open("sqlite", store.DSN(filepath.Join(b.TempDir(), "bare.db"), 0, false))
	require.NoError(b, err)
	defer bare.Close()
	bare.SetMaxOpenConns(1)
	_, err = bare.Exec("CREATE TABLE t (id TEXT PRIMARY KEY, data BLOB NOT NULL)")
	require.NoError(b, err)

	var sub, ins []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req.ID = uuid.Must(uuid.NewV7()).String()
		t0 := time.Now()
		if _, err := submit(ctx, req); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := bare.Exec("INSERT INTO t(id, data) VALUES (?, ?)", req.ID, payload); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		sub, ins = append(sub, t1.Sub(t0)), append(ins, t2.Sub(t1))
	}
	b.StopTimer()
	sp50, sp99 := percentiles(sub)
	bp50, bp99 := percentiles(ins)
	b.ReportMetric(ms(sp50), "submit-p50-ms")
	b.ReportMetric(ms(sp99), "submit-p99-ms")
	b.ReportMetric(ms(bp50), "bare-p50-ms")
	b.ReportMetric(ms(bp99), "bare-p99-ms")
	b.ReportMetric(float64(sp99)/float64(bp99), "p99-ratio")
	b.ReportMetric(float64(len(sub))/sum(sub).Seconds(), "cases/s")
	b.ReportMetric(float64(len(ins))/sum(ins).Seconds(), "bare-inserts/s")
	b.ReportMetric(float64(it.Size), "packet-bytes")
	b.ReportMetric(0, "ns/op") // the per-op figure mixes both loops; the metrics above are the result
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func sum(d []time.Duration) time.Duration {
	var t time.Duration
	for _, v := range d {
		t += v
	}
	return t
}
