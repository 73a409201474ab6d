// Package usbtest holds test helpers for USB drivers: finding the shared fixtures,
// loading recordings into a usb.Fake, and re-running a test under umockdev-run.
package usbtest

import (
	"bufio"
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
	"koffer/devices/usb"
)

// FixtureDir returns the folder of a shared recording ("libfprint/upektc_img"): from
// $KOFFER_FIXTURES, else ../shared/fixtures next to the module root or one of its parents
// (a git worktree lives one level deeper). It skips, or fails where peers are required.
func FixtureDir(t testing.TB, rel string) string {
	t.Helper()
	return peer.Fixtures(t, rel)
}

// SysfsPath returns the first device path (P: line) of a umockdev device file, which is the
// recorded device itself.
func SysfsPath(t testing.TB, deviceFile string) string {
	t.Helper()
	f, err := os.Open(deviceFile)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "P: "); ok {
			return "/sys" + p
		}
	}
	t.Fatalf("no P: line in %s", deviceFile)
	return ""
}

// FakeFromRecording loads the recording in dir into a scripted fake for the recorded device
// (bus and address from the device file's BUSNUM/DEVNUM).
func FakeFromRecording(t testing.TB, dir string) []usb.Step {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "device"))
	require.NoError(t, err)
	var bus, dev int
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "E: BUSNUM="); ok && bus == 0 {
			bus = atoi(v)
		}
		if v, ok := strings.CutPrefix(line, "E: DEVNUM="); ok && dev == 0 {
			dev = atoi(v)
		}
	}
	f, err := os.Open(filepath.Join(dir, "capture.pcapng"))
	require.NoError(t, err)
	defer f.Close()
	pkts, err := usb.ParseRecording(f)
	require.NoError(t, err)
	steps, err := usb.StepsFromRecording(pkts, uint16(bus), uint8(dev))
	require.NoError(t, err)
	require.NotEmpty(t, steps)
	return steps
}

func atoi(s string) int {
	n := 0
	for _, c := range strings.TrimSpace(s) {
		n = n*10 + int(c-'0')
	}
	return n
}

// LoadGray decodes a PNG as 8-bit gray (capture.png is stored as RGB with R=G=B).
func LoadGray(t testing.TB, path string) *image.Gray {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(raw))
	require.NoError(t, err)
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, gg, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			require.True(t, r == gg && gg == bb, "capture.png pixel (%d,%d) is not gray", x, y)
			g.Pix[y*g.Stride+x] = uint8(r >> 8)
		}
	}
	return g
}

// ChildEnv is set in the environment of a test re-run under umockdev.
const ChildEnv = "KOFFER_UMOCKDEV_CHILD"

// InChild reports whether this process is the re-run under umockdev.
func InChild() bool { return os.Getenv(ChildEnv) == "1" }

// RunUnderUmockdev re-runs test (a name of this test binary) under umockdev-run replaying the
// recording in dir, with env added, and returns its output. It fails t when the child fails.
func RunUnderUmockdev(t *testing.T, dir, test string, env ...string) string {
	t.Helper()
	bins := peer.Need(t, "umockdev-run")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins[0], append(replayArgs(t, dir),
		os.Args[0], "-test.run", "^"+test+"$", "-test.v", "-test.count=1", "-test.timeout=90s")...)
	cmd.Env = append(os.Environ(), append([]string{ChildEnv + "=1"}, env...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child under umockdev-run failed:\n%s", out)
	require.Contains(t, string(out), "--- PASS: "+test, "child did not run:\n%s", out)
	return string(out)
}

// replayArgs are umockdev-run's arguments replaying the recording in dir, up to the "--".
func replayArgs(t testing.TB, dir string) []string {
	return []string{"-d", filepath.Join(dir, "device"),
		"-p", SysfsPath(t, filepath.Join(dir, "device")) + "=" + filepath.Join(dir, "capture.pcapng"), "--"}
}

// Command returns program with args to run under umockdev-run replaying the recording in dir:
// for a long-running process (the agent) that the caller starts and ends. It skips, or fails
// where peers are required, without umockdev-run.
func Command(t testing.TB, dir, program string, args ...string) *exec.Cmd {
	t.Helper()
	bins := peer.Need(t, "umockdev-run")
	return exec.Command(bins[0], append(append(replayArgs(t, dir), program), args...)...)
}

// ImageSpan is the recorded device's own time to deliver an image: from the first submitted
// IN transfer on endpoint ep asking for at least minLen bytes to the last completion on ep.
// Benchmarks relate the driver's time to it.
func ImageSpan(t testing.TB, dir string, ep uint8, minLen uint32) time.Duration {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "capture.pcapng"))
	require.NoError(t, err)
	defer f.Close()
	pkts, err := usb.ParseRecording(f)
	require.NoError(t, err)
	var first, last time.Duration
	for _, p := range pkts {
		if p.Endpoint != ep || p.Transfer == 2 {
			continue
		}
		if p.Event == 'S' && p.Length >= minLen && first == 0 {
			first = p.Time
		}
		if p.Event == 'C' && first != 0 && p.Status == 0 {
			last = p.Time
		}
	}
	require.Positive(t, last-first, "no image transfer on %#02x in the recording", ep)
	return last - first
}
