package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/doctor"
	"koffer/agent/doctor/doctortest"
	"koffer/sync/enroll"
)

// TestDoctorSilentTownHall: the town hall accepts TCP and never answers. The whole doctor
// returns within 3 s and reports the link as slow (a warning), not as unknown.
func TestDoctorSilentTownHall(t *testing.T) {
	ca, err := enroll.NewCA("Stadt Musterstadt test CA", time.Now())
	require.NoError(t, err)
	f, out, _ := dataFactory(t)
	enrolledKit(t, f.DataDir, ca, doctortest.Silent(t))

	start := time.Now()
	err = doctorRun(&doctorOptions{f: f, ctx: t.Context(), JSON: true, Profile: emptyProfile(t), Discover: fakeReader, OpenReader: opensFine, DiskWarn: 1})
	took := time.Since(start)

	assert.Less(t, took, 3*time.Second, "the whole doctor")
	var st *exitStatusError
	require.ErrorAs(t, err, &st)
	assert.Equal(t, exitCode(1), st.code, "slow and offline are warnings")
	rep := doctorReport(t, out)
	for _, r := range rep.Results {
		switch r.Check {
		case "uplink":
			assert.Equal(t, doctor.Warn, r.Status, r.Value)
			assert.Equal(t, "uplink.slow", r.Code, r.Value)
			assert.Contains(t, r.Value, "tcp ", "what was measured is reported")
		case "clock":
			assert.Equal(t, doctor.Warn, r.Status, r.Value)
		}
	}
}

// TestDoctorWrongDataDir: a --data without a kit says so, instead of calling the database
// damaged and telling the caseworker to stop using the kit.
func TestDoctorWrongDataDir(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "nope"), t.TempDir()} {
		f, out, _ := testFactory(t)
		f.DataDir = dir
		err := doctorRun(&doctorOptions{f: f, ctx: t.Context(), JSON: true, Profile: emptyProfile(t), Discover: fakeReader, OpenReader: opensFine, DiskWarn: 1})
		var st *exitStatusError
		require.ErrorAs(t, err, &st)
		rep := doctorReport(t, out)
		for _, r := range rep.Results {
			if r.Check == "database" || r.Check == "queue" || r.Check == "audit" {
				assert.Equal(t, r.Check+".no-kit", r.Code, r.Value)
				assert.NotContains(t, r.HintDE, "beschädigt")
			}
		}
	}
}

// bundleFiles reads a support bundle: file base name to content.
func bundleFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[filepath.Base(h.Name)] = data
	}
}

// TestDoctorBundleUsesAgentLogWithoutJournal: where journald has no entries, the bundle's
// logs.txt is the agent's own recent log from the data directory.
func TestDoctorBundleUsesAgentLogWithoutJournal(t *testing.T) {
	f, _, _ := dataFactory(t)
	stop := startAgent(t, f)
	stop()
	bundle := filepath.Join(t.TempDir(), "support.tar.gz")
	err := doctorRun(&doctorOptions{f: f, ctx: t.Context(), Bundle: bundle, Profile: emptyProfile(t),
		Discover: fakeReader, OpenReader: opensFine, DiskWarn: 1, List: fakeBus,
		Logs: func(context.Context) ([]byte, error) { return []byte("-- No entries --\n"), nil }})
	if err != nil {
		var st *exitStatusError
		require.ErrorAs(t, err, &st)
	}
	logs := string(bundleFiles(t, bundle)["logs.txt"])
	assert.NotContains(t, logs, "No entries")
	assert.Contains(t, logs, "msg=stopped", "the agent's own log")
}
