package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/web/webtest"
	"koffer/devices/peer"
	"koffer/store"
)

// TestTrainingKitFirstMinute is a newcomer's first minute: a fresh `koffer agent --training`
// names a login on its login page, and chromium logs in with exactly that login and reaches
// the start page with the demo visit. An enrolled kit started the same way (without
// --training) names no login, refuses that login and has no such caseworker.
func TestTrainingKitFirstMinute(t *testing.T) {
	exe := peer.Need(t, "chromium")[0]
	ctx, cancel := context.WithTimeout(webtest.Chromium(t, exe), 60*time.Second)
	defer cancel()

	dir := t.TempDir()
	base := startUI(t, dir, "--training").base
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/anmelden"),
		chromedp.WaitVisible(chromedp.CSS("#uebungszugang")),
	))
	name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#uebungszugang strong:nth-of-type(1)")))
	require.NoError(t, err)
	pass, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#uebungszugang strong:nth-of-type(2)")))
	require.NoError(t, err)
	require.NotEmpty(t, name)
	require.NotEmpty(t, pass)
	login(t, ctx, name, pass)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Guten Tag")]`))))
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	require.NoError(t, err)
	assert.Contains(t, body, "Übungsfrau", "the demo visit pack is on today's list")

	// An enrolled kit: no hint, the same login is refused, no such caseworker exists.
	f, _, _ := dataFactory(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--enroll", writeBundle(t)}, f))
	ag := startUI(t, f.DataDir)
	base = ag.base
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/anmelden"),
		chromedp.WaitVisible(chromedp.CSS("#name"))))
	body, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	require.NoError(t, err)
	assert.NotContains(t, body, name)
	assert.NotContains(t, body, pass)
	assert.NotContains(t, strings.ToLower(body), "übungskoffer")
	login(t, ctx, name, pass)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(`//*[contains(., "Name oder Passphrase stimmt nicht")]`))))
	ag.stop()
	s, err := store.Open(t.Context(), f.DataDir, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	n, err := s.CaseworkerCount(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "a kit that is not a training kit never gets the demo caseworker")
}

func login(t *testing.T, ctx context.Context, name, pass string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#passphrase"), pass),
		chromedp.Submit(chromedp.CSS("#passphrase")),
	))
}

type listeningAgent struct {
	base string
	stop func()
}

// startUI runs `koffer agent --listen` as its own process until the test ends (or stop) and
// returns once the login page answers.
func startUI(t *testing.T, dir string, flags ...string) listeningAgent {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	logs := &syncBuffer{}
	cmd := exec.Command(os.Args[0], append([]string{"agent", "--data", dir, "--listen", addr}, flags...)...)
	cmd.Env = append(os.Environ(), "KOFFER_TEST_MAIN=1")
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			assert.NoError(t, err, "graceful shutdown: %s", logs.String())
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("agent did not stop")
		}
	}
	t.Cleanup(stop)
	base := "http://" + addr
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := hc.Get(base + "/anmelden")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return listeningAgent{base: base, stop: stop}
			}
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("agent exited: %v\n%s", err, logs.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "agent did not answer: %v\n%s", err, logs.String())
		time.Sleep(20 * time.Millisecond)
	}
}
