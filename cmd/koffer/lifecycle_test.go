package main

import (
	"bufio"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// freeLoopback returns a loopback address nobody listens on.
func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// uiLogin logs a caseworker in to the UI at base as a browser would (cookie, CSRF token) and
// returns the client holding the session.
func uiLogin(t *testing.T, base, name, passphrase string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := c.Get(base + "/anmelden")
	require.NoError(t, err)
	body := new(strings.Builder)
	_, err = bufio.NewReader(res.Body).WriteTo(body)
	res.Body.Close()
	require.NoError(t, err)
	m := csrfField.FindStringSubmatch(body.String())
	require.NotNil(t, m, "login form without a CSRF token")
	res, err = c.PostForm(base+"/anmelden", url.Values{"name": {name}, "passphrase": {passphrase}, "csrf": {m[1]}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "login (after the redirect to the start page)")
	return c
}

// TestShutdownWithOpenEventStream: a browser tab holds the UI's event stream open; SIGTERM
// still ends the agent process within 1 s, with exit status 0 and a graceful stop.
func TestShutdownWithOpenEventStream(t *testing.T) {
	f, _, errOut := dataFactory(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--training"}, f), errOut.String())
	pass := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(pass, []byte("korrekt pferd batterie"), 0o600))
	require.Equal(t, exitOK, run(t.Context(), []string{"user", "add", "anna", "--passphrase-file", pass}, f), errOut.String())

	addr := freeLoopback(t)
	p := startAgentProc(t, f.DataDir, "--training", "--listen", addr)
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.kill()
		}
	})
	c := uiLogin(t, "http://"+addr, "anna", "korrekt pferd batterie")
	c.Timeout = 0 // the stream stays open
	res, err := c.Get("http://" + addr + "/ereignisse")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "event: bereit\n", line, "the stream is open")

	start := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		took := time.Since(start)
		require.NoError(t, err, "exit status 0 on SIGTERM:\n%s", p.logs.String())
		assert.Less(t, took, time.Second, "shutdown with an open event stream")
		assert.Contains(t, p.logs.String(), "msg=stopped")
		t.Logf("shutdown took %s", took.Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatalf("agent still running 15 s after SIGTERM:\n%s", p.logs.String())
	}
}
