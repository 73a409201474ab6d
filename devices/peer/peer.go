// Package peer finds the real programs that tests run against (ippeveprinter, umockdev-run,
// chromium, pdfinfo...). Where one is missing a test skips on a developer machine and fails
// when KOFFER_REQUIRE_PEERS=1, as CI sets it: real-peer tests never silently vanish there.
package peer

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Required reports whether missing peers must fail tests instead of skipping them.
func Required() bool { return os.Getenv("KOFFER_REQUIRE_PEERS") == "1" }

// Need returns the path of each named program, or skips (fails under KOFFER_REQUIRE_PEERS=1)
// the test when one is missing. It returns paths in the order asked.
func Need(t testing.TB, programs ...string) []string {
	t.Helper()
	paths := make([]string, 0, len(programs))
	for _, p := range programs {
		path, err := exec.LookPath(p)
		if err != nil {
			Missing(t, p+" not installed")
		}
		paths = append(paths, path)
	}
	return paths
}

// Missing skips the test with why, or fails it when peers are required.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("real peer missing (KOFFER_REQUIRE_PEERS=1): %s", why)
	}
	t.Skipf("real peer missing: %s", why)
}

// FixturesDir returns the folder sub ("escl", "libfprint/upektc_img") of the shared recordings
// of real devices: $KOFFER_FIXTURES/sub, else shared/fixtures/sub in the nearest ancestor of
// the working directory (the project's ../shared, also from a worktree). "" when there is none.
func FixturesDir(sub string) string {
	if d := os.Getenv("KOFFER_FIXTURES"); d != "" {
		return filepath.Join(d, sub)
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "shared", "fixtures", sub)
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
	}
	return ""
}

// Fixtures is FixturesDir for a test. The recordings are the project's test data, present on
// every developer machine and in CI, so a missing folder fails the test.
func Fixtures(t testing.TB, sub string) string {
	t.Helper()
	d := FixturesDir(sub)
	if d == "" {
		t.Fatalf("shared fixtures %s not found (keep ../shared next to the project or set KOFFER_FIXTURES)", sub)
	}
	return d
}
