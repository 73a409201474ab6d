// Package ipptest starts a real IPP printer, CUPS' ippeveprinter, for tests and benchmarks:
// each on a free port with its own private D-Bus daemon and spool directory, killed by PID
// when the test ends. Where ippeveprinter is missing the test skips (fails under
// KOFFER_REQUIRE_PEERS=1).
package ipptest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"koffer/devices/peer"
)

// Options configure a printer. Zero values mean the defaults noted.
type Options struct {
	// Formats is the -f list (default application/pdf,image/pwg-raster,image/urf,image/jpeg).
	Formats []string
	// Command is the -c print command. Empty: a script that exits at once after Delay, so jobs
	// finish fast. "none": no command; ippeveprinter then simulates printing for 5-15 s.
	Command string
	// Delay is how long the default command takes per job.
	Delay time.Duration
	// Name is the printer name (default "Koffer Test").
	Name string
}

// Printer is a running ippeveprinter.
type Printer struct {
	URI   string // ipp://localhost:PORT/ipp/print
	Spool string // spool directory; -k keeps every job's document there
	Log   *Log   // what ippeveprinter printed so far
	pid   int
}

// Log collects a process's output; safe to read while the process writes.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Start runs ippeveprinter and waits until it answers on its port.
func Start(t testing.TB, opts Options) *Printer {
	t.Helper()
	paths := peer.Need(t, "ippeveprinter", "dbus-daemon")
	dir, err := os.MkdirTemp("", "ippeve")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatalf("spool dir: %v", err)
	}

	// ippeveprinter wants a D-Bus system bus even with -r off: give it a private one.
	bus := filepath.Join(dir, "bus")
	out, err := exec.Command(paths[1], "--session", "--address=unix:path="+bus, "--fork", "--print-pid").Output()
	if err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	busPID, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("dbus-daemon pid %q: %v", out, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(busPID, syscall.SIGTERM) })

	if len(opts.Formats) == 0 {
		opts.Formats = []string{"application/pdf", "image/pwg-raster", "image/urf", "image/jpeg"}
	}
	if opts.Name == "" {
		opts.Name = "Koffer Test"
	}
	args := []string{"-n", "localhost", "-r", "off", "-k", "-d", spool, "-f", strings.Join(opts.Formats, ",")}
	switch opts.Command {
	case "none":
	case "":
		script := filepath.Join(dir, "print.sh")
		body := fmt.Sprintf("#!/bin/sh\nsleep %.3f\nexit 0\n", opts.Delay.Seconds())
		if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
			t.Fatalf("write print script: %v", err)
		}
		args = append(args, "-c", script)
	default:
		args = append(args, "-c", opts.Command)
	}

	var p *Printer
	for try := 0; try < 5 && p == nil; try++ {
		port := freePort(t)
		log := &Log{}
		cmd := exec.Command(paths[0], append(args, "-p", strconv.Itoa(port), opts.Name)...)
		cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS=unix:path="+bus, "HOME="+dir)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start ippeveprinter: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if waitPort(port, exited, 10*time.Second) {
			pid := cmd.Process.Pid
			t.Cleanup(func() {
				_ = syscall.Kill(pid, syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(3 * time.Second):
					_ = syscall.Kill(pid, syscall.SIGKILL)
					<-exited
				}
			})
			p = &Printer{URI: fmt.Sprintf("ipp://localhost:%d/ipp/print", port), Spool: spool, Log: log, pid: pid}
			break
		}
		_ = cmd.Process.Kill()
		<-exited
		t.Logf("ippeveprinter did not come up on port %d: %s", port, log)
	}
	if p == nil {
		t.Fatalf("ippeveprinter did not start")
	}
	return p
}

// SpoolFiles returns the documents ippeveprinter kept (not the command outputs), oldest job first.
func (p *Printer) SpoolFiles(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(p.Spool)
	if err != nil {
		t.Fatalf("read spool: %v", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && filepath.Ext(e.Name()) != ".prn" { // .prn: the print command's output
			files = append(files, filepath.Join(p.Spool, e.Name()))
		}
	}
	return files
}

// JobFile returns the spooled document of job id (ippeveprinter names it "<id>-<name>.<ext>").
func (p *Printer) JobFile(t testing.TB, id int) string {
	t.Helper()
	prefix := strconv.Itoa(id) + "-"
	for _, f := range p.SpoolFiles(t) {
		if strings.HasPrefix(filepath.Base(f), prefix) {
			return f
		}
	}
	t.Fatalf("no spool file for job %d in %v", id, p.SpoolFiles(t))
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(port int, exited <-chan struct{}, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("localhost", strconv.Itoa(port)), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
