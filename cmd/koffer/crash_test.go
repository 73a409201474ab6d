package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"filippo.io/age"
	"koffer/agent/client"
	"koffer/agent/keys"
	"koffer/store"
	"koffer/sync/packet"
)

// agentProc is a koffer agent running as its own process (this test binary, see TestMain).
type agentProc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

// startAgentProc runs `koffer agent --data dir` with extra flags as its own process (this test
// binary re-executed as koffer) and waits until its local API answers.
func startAgentProc(t testing.TB, dir string, flags ...string) *agentProc {
	t.Helper()
	p := &agentProc{logs: &syncBuffer{}}
	p.cmd = exec.Command(os.Args[0], append([]string{"agent", "--data", dir}, flags...)...)
	p.cmd.Env = append(os.Environ(), "KOFFER_TEST_MAIN=1")
	p.cmd.Stderr = p.logs
	require.NoError(t, p.cmd.Start())
	c := client.New(dir)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatalf("agent not ready: %v\n%s", err, p.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *agentProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// TestCrashWhileSubmitting kills the agent with SIGKILL at random moments while the CLI submits
// cases, 100 times. Every case the CLI reported as submitted must be in the queue afterwards,
// exactly once, with exactly one packet that opens and names it, and the database must pass
// PRAGMA integrity_check. Cases whose answer was lost are retried with the same id, as a
// caseworker would, and must not appear twice.
func TestCrashWhileSubmitting(t *testing.T) {
	cycles := 100
	if testing.Short() {
		cycles = 10
	}
	f, _, _ := dataFactory(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--training"}, f))
	caseFiles, err := filepath.Glob("../../testdata/cases/valid/*/case.json")
	require.NoError(t, err)
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill timing seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))

	var mu sync.Mutex             // guards the three below between the submitters
	reported := map[string]bool{} // the CLI printed the id: submitted
	var uncertain []string        // the CLI failed: maybe stored, retried with the same id
	fileOf := map[string]string{}
	kills, lost, early := 0, 0, 0
	submitter := func(stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			var id string
			if len(uncertain) > 0 {
				id, uncertain = uncertain[0], uncertain[1:]
			} else {
				id = uuid.Must(uuid.NewV7()).String()
				fileOf[id] = caseFiles[rand.IntN(len(caseFiles))]
			}
			file := fileOf[id]
			mu.Unlock()
			var out, errOut bytes.Buffer
			cf := *f
			cf.Out, cf.ErrOut = &out, &errOut
			err := caseSubmitRun(&caseSubmitOptions{f: &cf, ctx: context.Background(), ID: id, File: file, Now: time.Now})
			mu.Lock()
			if err == nil {
				assert.Equal(t, id, strings.TrimSpace(out.String()))
				reported[id] = true
			} else {
				uncertain = append(uncertain, id)
				lost++
			}
			mu.Unlock()
			if err != nil {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}
	}
	for range cycles {
		// One cycle in ten kills the agent while it starts (migrations, orphan removal);
		// the others while two clients submit, as the UI and the CLI might.
		if rng.IntN(10) == 0 {
			p := &agentProc{logs: &syncBuffer{}}
			p.cmd = exec.Command(os.Args[0], "agent", "--training", "--data", f.DataDir)
			p.cmd.Env = append(os.Environ(), "KOFFER_TEST_MAIN=1")
			require.NoError(t, p.cmd.Start())
			time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
			p.kill()
			kills++
			early++
			continue
		}
		p := startAgentProc(t, f.DataDir, "--training")
		killAfter := time.Duration(rng.IntN(40_000)) * time.Microsecond
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { submitter(stop) })
		wg.Go(func() { submitter(stop) })
		time.Sleep(killAfter)
		p.kill()
		kills++
		close(stop)
		wg.Wait()
	}
	require.Equal(t, cycles, kills)

	// Restart once more: retry what is uncertain, then check the queue.
	p := startAgentProc(t, f.DataDir, "--training")
	for _, id := range uncertain {
		var out bytes.Buffer
		cf := *f
		cf.Out, cf.ErrOut = &out, &bytes.Buffer{}
		require.NoError(t, caseSubmitRun(&caseSubmitOptions{f: &cf, ctx: t.Context(), ID: id, File: fileOf[id], Now: time.Now}))
		reported[id] = true
	}
	cs, err := client.New(f.DataDir).Queue(t.Context())
	require.NoError(t, err)
	p.kill()

	require.NotEmpty(t, reported, "some cases got through between kills")
	seen := map[string]int{}
	for _, c := range cs {
		seen[c.ID]++
		assert.Equal(t, "sealed", c.State)
	}
	for id := range reported {
		assert.Equal(t, 1, seen[id], "case %s reported as submitted", id)
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, "case %s listed once", id)
		assert.True(t, reported[id], "case %s in the queue was submitted by the CLI", id)
	}

	s, err := store.Open(t.Context(), f.DataDir, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.IntegrityCheck(t.Context()))
	require.NoError(t, s.VerifyAudit(t.Context()))
	_, err = s.RemoveOrphans(t.Context())
	require.NoError(t, err)

	// One packet per case, and each opens to its case.
	kit, err := keys.LoadKit(f.DataDir)
	require.NoError(t, err)
	id, err := age.ParseX25519Identity(kit.TownHall)
	require.NoError(t, err)
	pub, err := kit.Bundle.PublicKey()
	require.NoError(t, err)
	pkts, err := os.ReadDir(filepath.Join(f.DataDir, store.PacketsDir))
	require.NoError(t, err)
	assert.Len(t, pkts, len(cs))
	for _, c := range cs {
		it, err := s.Outbox(t.Context(), c.ID)
		require.NoError(t, err)
		data, err := os.ReadFile(it.PacketPath)
		require.NoError(t, err)
		pk, err := packet.Open(data, pub, id)
		require.NoError(t, err)
		assert.Equal(t, c.ID, pk.Manifest.CaseID)
	}
	t.Logf("%d kills (%d while starting), %d cases submitted, %d submits failed and were retried with the same id",
		kills, early, len(reported), lost)
}
