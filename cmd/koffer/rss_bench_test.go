package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"koffer/agent/client"
	"koffer/sync/townhall"
)

// rssOf is the resident set size of process pid, from /proc.
func rssOf(tb testing.TB, pid int) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(tb, err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(tb, err)
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// settledRSS is the RSS of pid after the agent has had settle to finish the work and give
// back what it freed (it trims every few seconds): the last of the samples, not the lowest.
func settledRSS(tb testing.TB, pid int, settle time.Duration) int64 {
	time.Sleep(settle)
	return rssOf(tb, pid)
}

// BenchmarkRSSAfterLargeCases runs a real agent process against an in-process town hall,
// measures its idle RSS, submits twenty cases with a 30 MB scan each, waits until the town
// hall has them all, and measures the RSS again once the work is done. The figure is the ratio
// (target <= 1.5). Run with: go test ./cmd/koffer -run '^$' -bench RSSAfterLargeCases -benchtime 1x
func BenchmarkRSSAfterLargeCases(b *testing.B) {
	const cases, scanMB = 20, 30
	thDir := b.TempDir()
	th, err := townhall.Open(context.Background(), thDir, townhall.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	defer th.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	bundle, err := th.AddKit(context.Background(), "kit-rss", "https://"+ln.Addr().String())
	require.NoError(b, err)
	cfg, err := th.ServerTLS()
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- th.Serve(ctx, ln, cfg) }()
	defer func() { cancel(); <-served }()

	raw, err := bundle.Marshal()
	require.NoError(b, err)
	bf := filepath.Join(b.TempDir(), "kit.json")
	require.NoError(b, os.WriteFile(bf, raw, 0o600))
	dataDir := b.TempDir()
	var out, errOut bytes.Buffer
	f := newFactory(strings.NewReader(""), &out, &errOut)
	f.DataDir = dataDir
	require.Equal(b, exitOK, run(context.Background(), []string{"--data", dataDir, "init", "--enroll", bf}, f), errOut.String())

	caseDir := filepath.Join(b.TempDir(), "case")
	require.NoError(b, os.CopyFS(caseDir, os.DirFS("../../testdata/cases/valid/wohnsitzanmeldung")))
	scan := make([]byte, scanMB*1000*1000)
	_, _ = rand.Read(scan)
	copy(scan, "%PDF-1.4\n")
	require.NoError(b, os.WriteFile(filepath.Join(caseDir, "scan.pdf"), scan, 0o600))
	scan = nil

	for range b.N {
		p := startAgentProc(b, dataDir)
		pid := p.cmd.Process.Pid
		time.Sleep(2 * time.Second) // start-up settles
		idle := rssOf(b, pid)

		b.ResetTimer()
		for range cases {
			cf := *f
			cf.Out, cf.ErrOut = &bytes.Buffer{}, &bytes.Buffer{}
			require.NoError(b, caseSubmitRun(&caseSubmitOptions{f: &cf, ctx: context.Background(),
				ID: uuid.Must(uuid.NewV7()).String(), File: filepath.Join(caseDir, "case.json"), Now: time.Now}))
		}
		c := client.New(dataDir)
		deadline := time.Now().Add(10 * time.Minute)
		var peak int64
		for {
			peak = max(peak, rssOf(b, pid))
			st, err := c.Status(context.Background())
			require.NoError(b, err)
			if st.Queue.Depth == 0 {
				break
			}
			require.True(b, time.Now().Before(deadline), "not delivered: %+v\n%s", st.Queue, p.logs.String())
			time.Sleep(200 * time.Millisecond)
		}
		b.StopTimer()
		after := settledRSS(b, pid, 15*time.Second)
		inbox, err := th.Inbox(context.Background())
		require.NoError(b, err)
		require.Len(b, inbox, cases)
		p.kill()

		b.ReportMetric(float64(idle)/(1<<20), "idle-MiB")
		b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		b.ReportMetric(float64(after)/(1<<20), "after-MiB")
		b.ReportMetric(float64(after)/float64(idle), "after/idle")
		b.ReportMetric(0, "ns/op")
	}
}
