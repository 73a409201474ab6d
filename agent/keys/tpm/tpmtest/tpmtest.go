// Package tpmtest starts swtpm (a software TPM 2.0) for tests, in a temporary state
// directory, reachable over TCP with raw TPM commands.
package tpmtest

import (
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"koffer/devices/peer"
)

// Start runs swtpm until the test ends and returns its address for tpm.Open
// ("tcp:127.0.0.1:PORT"). It skips (fails under KOFFER_REQUIRE_PEERS=1) without swtpm.
func Start(t testing.TB) string {
	t.Helper()
	bin := peer.Need(t, "swtpm")[0]
	port, ctrl := freePort(t), freePort(t)
	cmd := exec.Command(bin, "socket", "--tpm2",
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", ctrl),
		"--tpmstate", "dir="+t.TempDir(),
		"--flags", "not-need-init,startup-clear")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// swtpm listens within milliseconds; a dial loop with a deadline waits for a process,
	// not for a timing assumption.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return "tcp:" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("swtpm does not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
