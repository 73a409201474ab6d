// Package peer finds the real programs that tests run against (ippeveprinter, umockdev-run,
// chromium, pdfinfo...). Where one is missing a test skips on a developer machine and fails
// when KOFFER_REQUIRE_PEERS=1, as CI sets it: real-peer tests never silently vanish there.
package peer

import (
	"os"
	"os/exec"
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
