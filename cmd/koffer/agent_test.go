package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/client"
	"koffer/agent/keys"
	"koffer/store"
)

// startAgent runs `koffer agent --training` in-process on f's data directory until the test
// ends (or stop is called), and waits until it answers on its socket.
func startAgent(t *testing.T, f *factory, args ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan exitCode, 1)
	var logs syncBuffer
	af := *f
	af.ErrOut = &logs
	go func() { done <- run(ctx, append([]string{"agent", "--training"}, args...), &af) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				assert.Equal(t, exitOK, code, "graceful shutdown: %s", logs.String())
				assert.Contains(t, logs.String(), "msg=stopped")
			case <-time.After(15 * time.Second):
				t.Error("agent did not stop")
			}
		})
	}
	t.Cleanup(stop)
	c := client.New(f.DataDir)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Status(t.Context()); err == nil {
			return stop
		}
		select {
		case code := <-done:
			t.Fatalf("agent exited with %d: %s", code, logs.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "agent not ready: %s", logs.String())
		time.Sleep(10 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dataFactory is testFactory with DataDir filled as the root command would.
func dataFactory(t *testing.T) (*factory, *bytes.Buffer, *bytes.Buffer) {
	f, out, errOut := testFactory(t)
	f.DataDir = f.defaultDataDir()
	return f, out, errOut
}

func TestAgentSubmitQueueStatus(t *testing.T) {
	f, out, errOut := dataFactory(t)
	startAgent(t, f)
	ctx := t.Context()

	st, err := client.New(f.DataDir).Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "training", st.Mode)
	assert.FileExists(t, filepath.Join(f.DataDir, keys.TrainingFile), "a training kit was made on first start")
	info, err := os.Stat(filepath.Join(f.DataDir, client.SocketName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	var ids []string
	dirs, err := filepath.Glob("../../testdata/cases/valid/*")
	require.NoError(t, err)
	for _, d := range dirs {
		out.Reset()
		err := caseSubmitRun(&caseSubmitOptions{f: f, ctx: ctx, File: filepath.Join(d, "case.json"), Now: time.Now})
		require.NoError(t, err, errOut.String())
		ids = append(ids, strings.TrimSpace(out.String()))
	}

	out.Reset()
	require.NoError(t, queueLsRun(&queueOptions{f: f, ctx: ctx, JSON: true}))
	var listed []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &listed))
	require.Len(t, listed, len(ids))
	for i, c := range listed {
		assert.Equal(t, ids[i], c["id"])
		assert.Equal(t, "sealed", c["state"])
		assert.NotEmpty(t, c["service"])
	}

	out.Reset()
	require.NoError(t, queueLsRun(&queueOptions{f: f, ctx: ctx}))
	assert.Contains(t, out.String(), ids[0])
	assert.Contains(t, out.String(), "SERVICE")

	out.Reset()
	require.NoError(t, queueShowRun(&queueOptions{f: f, ctx: ctx, ID: ids[0], JSON: true}))
	var shown map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &shown))
	assert.Equal(t, ids[0], shown["id"])

	out.Reset()
	require.NoError(t, queueShowRun(&queueOptions{f: f, ctx: ctx, ID: ids[1]}))
	assert.Contains(t, out.String(), "state:      sealed")

	err = queueShowRun(&queueOptions{f: f, ctx: ctx, ID: "01900000-0000-7000-8000-000000000000"})
	assert.ErrorContains(t, err, "not found")

	out.Reset()
	require.NoError(t, statusRun(&statusOptions{f: f, ctx: ctx}))
	assert.Contains(t, out.String(), "audit log:  ok")
	assert.Contains(t, out.String(), "queue:      5 waiting")

	out.Reset()
	require.NoError(t, statusRun(&statusOptions{f: f, ctx: ctx, JSON: true}))
	var stj map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &stj))
	assert.Equal(t, "training", stj["mode"])
	assert.EqualValues(t, 5, stj["queue"].(map[string]any)["depth"])
	devs := stj["devices"].([]any)
	require.Len(t, devs, 3, "every kind of device is listed")
	for _, d := range devs {
		assert.Equal(t, "sim", d.(map[string]any)["driver"], "training: the simulators")
		assert.Equal(t, "ready", d.(map[string]any)["state"])
	}

	// The same id again: the agent recognises it and stores nothing new.
	out.Reset()
	errOut.Reset()
	require.NoError(t, caseSubmitRun(&caseSubmitOptions{f: f, ctx: ctx, ID: ids[0], File: filepath.Join(dirs[0], "case.json"), Now: time.Now}))
	assert.Equal(t, ids[0], strings.TrimSpace(out.String()))
	assert.Contains(t, errOut.String(), "already submitted")
	cs, err := client.New(f.DataDir).Queue(ctx)
	require.NoError(t, err)
	assert.Len(t, cs, len(ids))
}

func TestCaseSubmitInvalidLeavesStoreUnchanged(t *testing.T) {
	f, out, errOut := dataFactory(t)
	startAgent(t, f)
	dirs, err := filepath.Glob("../../testdata/cases/invalid/*")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, d := range dirs {
		t.Run(filepath.Base(d), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(d, "want"))
			require.NoError(t, err)
			out.Reset()
			errOut.Reset()
			code := run(t.Context(), []string{"--data", f.DataDir, "case", "submit", filepath.Join(d, "case.json")}, f)
			assert.Equal(t, exitError, code)
			assert.Empty(t, out.String(), "no case id printed")
			w := strings.Fields(string(want))
			assert.Contains(t, errOut.String(), "["+w[len(w)-1]+"]")
			if len(w) == 2 {
				assert.Contains(t, errOut.String(), w[0]+":")
			}
		})
	}
	cs, err := client.New(f.DataDir).Queue(t.Context())
	require.NoError(t, err)
	assert.Empty(t, cs)
	ents, err := os.ReadDir(filepath.Join(f.DataDir, store.PacketsDir))
	require.NoError(t, err)
	assert.Empty(t, ents)
}

// The agent checks again what a client sends: a client that skips the local check gets the same
// problems from the daemon.
func TestAgentValidatesToo(t *testing.T) {
	f, _, _ := dataFactory(t)
	startAgent(t, f)
	raw, err := os.ReadFile("../../testdata/cases/invalid/little-finger/case.json")
	require.NoError(t, err)
	_, err = client.New(f.DataDir).Submit(t.Context(), submitRequest(t, raw, "../../testdata/cases/invalid/little-finger"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "attachments[1].finger")
}

func TestNoAgent(t *testing.T) {
	f, _, errOut := dataFactory(t)
	code := run(t.Context(), []string{"queue", "ls"}, f)
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut.String(), "not running")
	err := statusRun(&statusOptions{f: f, ctx: t.Context()})
	assert.ErrorIs(t, err, client.ErrNotRunning)
}

func TestAgentConfigTypo(t *testing.T) {
	f, _, errOut := dataFactory(t)
	cfg := filepath.Join(t.TempDir(), "koffer.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("listen = \"127.0.0.1:0\"\nlog_levle = \"debug\"\n"), 0o600))
	code := run(t.Context(), []string{"agent", "--training", "--config", cfg}, f)
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut.String(), "unknown key(s) log_levle")
}

func TestAgentRefusesTrainingOnEnrolledKit(t *testing.T) {
	f, _, errOut := dataFactory(t)
	bundle := writeBundle(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--enroll", bundle}, f))
	code := run(t.Context(), []string{"agent", "--training"}, f)
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut.String(), "enrolled with a town hall")
}

func TestAgentLoopbackOnly(t *testing.T) {
	f, _, errOut := dataFactory(t)
	code := run(t.Context(), []string{"agent", "--training", "--listen", "0.0.0.0:0"}, f)
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut.String(), "only loopback")
}
