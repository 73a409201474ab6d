package doctor

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/devices/fingerprint/usbreader"
	"koffer/devices/profile"
	"koffer/store"
	"koffer/sync/enroll"
)

// healthyKit makes an enrolled kit whose town hall is a local TLS server, with a store holding
// some audit history.
func healthyKit(b *testing.B) (string, *profile.Profile) {
	b.Helper()
	ca, err := enroll.NewCA("town hall CA", time.Now())
	require.NoError(b, err)
	th := startTownhall(b, ca, time.Now())
	id, err := age.GenerateX25519Identity()
	require.NoError(b, err)
	bundle, err := ca.Issue("kit-bench", th.URL, id.Recipient().String(), time.Now())
	require.NoError(b, err)
	dir := b.TempDir()
	require.NoError(b, keys.SaveKit(dir, &keys.Kit{Bundle: bundle}))
	st, err := store.Open(context.Background(), dir, store.Options{})
	require.NoError(b, err)
	for range 500 {
		require.NoError(b, st.Audit(context.Background(), "bench.event", "", "tech"))
	}
	require.NoError(b, st.Close())
	return dir, &profile.Profile{}
}

func fakeFound(context.Context) ([]usbreader.Found, error) {
	return []usbreader.Found{{Model: usbreader.Models()[0]}}, nil
}

func runKit(b *testing.B, dir string, prof *profile.Profile, extra []Check, timeout time.Duration) Report {
	k := ForKit(context.Background(), KitOptions{DataDir: dir, Profile: prof, Discover: fakeFound, DiskWarnBelow: 1, DiskFailBelow: 1,
		OpenReader: func(context.Context) error { return nil }})
	defer k.Close()
	return Run(context.Background(), append(k.Checks, extra...), Options{Timeout: timeout})
}

// BenchmarkDoctor measures a whole doctor run (open the store, every check including the uplink
// and clock against a local TLS town hall) on a healthy kit, beside its peer: the bare
// PRAGMA integrity_check of the same database, the floor of any honest database check.
// "hanging-device" adds a printer that never answers: the run is bounded by the check deadline
// (ratio_to_deadline close to 1).
func BenchmarkDoctor(b *testing.B) {
	dir, prof := healthyKit(b)
	var peerNs float64
	b.Run("peer-integrity-check", func(b *testing.B) {
		db, err := sql.Open("sqlite", store.DSN(filepath.Join(dir, store.DBName), 0, true))
		require.NoError(b, err)
		defer db.Close()
		for b.Loop() {
			var s string
			require.NoError(b, db.QueryRow("PRAGMA integrity_check").Scan(&s))
		}
		peerNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("healthy", func(b *testing.B) {
		for b.Loop() {
			rep := runKit(b, dir, prof, nil, DefaultTimeout)
			if rep.Status != OK {
				b.Fatalf("healthy kit not ok: %+v", rep.Results)
			}
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(ns/1e6, "ms/run")
		if peerNs > 0 {
			b.ReportMetric(ns/peerNs, "x_integrity_check")
		}
	})
	b.Run("hanging-device", func(b *testing.B) {
		const deadline = 500 * time.Millisecond
		hang := &PrinterCheck{P: hangingPrinter{}}
		for b.Loop() {
			rep := runKit(b, dir, prof, []Check{hang}, deadline)
			if rep.Status != Fail {
				b.Fatalf("hanging printer not reported")
			}
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(ns/1e6, "ms/run")
		b.ReportMetric(ns/float64(deadline.Nanoseconds()), "ratio_to_deadline")
	})
}
