package main

import (
	"bytes"
	"context"
	"errors"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/client"
	"koffer/agent/localapi"
	"koffer/store"
	"koffer/sync/townhall"
)

// fakeSyncAgent drains one case per SyncState call after a SyncNow, unless stuck.
type fakeSyncAgent struct {
	mu      sync.Mutex
	kicked  int
	pending int
	parked  int
	stuck   bool
	err     error
}

var _ syncAgent = (*fakeSyncAgent)(nil)

func (a *fakeSyncAgent) SyncNow(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kicked++
	return a.err
}

func (a *fakeSyncAgent) SyncState(context.Context) (syncState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := syncState{Pending: a.pending, Parked: a.parked, Reachable: !a.stuck}
	if a.stuck {
		st.LastError = "head_network_dial"
	} else if a.kicked > 0 && a.pending > 0 {
		a.pending--
	}
	return st, nil
}

func TestSync(t *testing.T) {
	tests := []struct {
		name    string
		agent   *fakeSyncAgent
		wait    bool
		wantErr error
		wantOut string
		wantMsg string
	}{
		{name: "kick only", agent: &fakeSyncAgent{pending: 3}, wantOut: "trying every waiting case now"},
		{name: "wait until empty", agent: &fakeSyncAgent{pending: 3, parked: 1}, wait: true, wantOut: "1 case parked"},
		{name: "timeout while unreachable", agent: &fakeSyncAgent{pending: 2, stuck: true}, wait: true, wantErr: errSilent, wantMsg: "2 cases still waiting"},
		{name: "agent refuses", agent: &fakeSyncAgent{err: errors.New("boom")}, wantErr: errors.New("sync: boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, errOut := testFactory(t)
			opts := &syncOptions{f: f, ctx: t.Context(), wait: tt.wait, timeout: 300 * time.Millisecond, poll: 10 * time.Millisecond,
				connect: func(string) (syncAgent, error) { return tt.agent, nil }}
			err := syncRun(opts)
			if tt.wantErr != nil {
				require.Error(t, err)
				if errors.Is(tt.wantErr, errSilent) {
					assert.ErrorIs(t, err, errSilent)
				} else {
					assert.EqualError(t, err, tt.wantErr.Error())
				}
				assert.Contains(t, errOut.String(), tt.wantMsg)
				return
			}
			require.NoError(t, err)
			assert.Contains(t, out.String(), tt.wantOut)
			assert.Equal(t, 1, tt.agent.kicked)
			if tt.wait {
				assert.Zero(t, tt.agent.pending)
			}
		})
	}
}

func TestSyncCommandFlags(t *testing.T) {
	f, _, _ := testFactory(t)
	var got *syncOptions
	cmd := newSyncCmd(f, func(o *syncOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--wait", "--timeout", "2m"})
	require.NoError(t, cmd.Execute())
	require.NotNil(t, got)
	assert.True(t, got.wait)
	assert.Equal(t, 2*time.Minute, got.timeout)
}

// TestSyncSurvivesKills enrolls a kit with a real in-process town hall, submits cases while
// the town hall is down, then starts it and SIGKILLs the agent at random moments of the sync
// (50 times; 10 with -short), restarting it each time and sealing one more case per cycle. Finally `koffer sync --wait` drains
// the queue: every case is at the town hall exactly once and opens there, the kit holds its
// receipt, and neither its packet nor a biometric is left on the kit.
func TestSyncSurvivesKills(t *testing.T) {
	cycles := 50
	if testing.Short() {
		cycles = 10
	}
	thDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // the town hall is down while the cases are captured
	th, err := townhall.Open(t.Context(), thDir, townhall.Options{})
	require.NoError(t, err)
	defer th.Close()
	bundle := enrollBundle(t, th, "kit-e2e", "https://"+addr)

	f, _, errOut := dataFactory(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--enroll", bundle}, f), errOut.String())
	caseFiles, err := filepath.Glob("../../testdata/cases/valid/*/case.json")
	require.NoError(t, err)

	p := startAgentProc(t, f.DataDir)
	var ids []string
	for i := range 6 {
		id := uuid.Must(uuid.NewV7()).String()
		var out bytes.Buffer
		cf := *f
		cf.Out, cf.ErrOut = &out, &bytes.Buffer{}
		require.NoError(t, caseSubmitRun(&caseSubmitOptions{f: &cf, ctx: t.Context(), ID: id, File: caseFiles[i%len(caseFiles)], Now: time.Now}))
		ids = append(ids, id)
	}
	p.kill()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg, err := th.ServerTLS()
	require.NoError(t, err)
	var lc net.ListenConfig
	tl, err := lc.Listen(ctx, "tcp", addr)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- th.Serve(ctx, tl, cfg) }()

	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for i := range cycles {
		// Each cycle seals one more case, so the kill lands while the uplink works.
		p := startAgentProc(t, f.DataDir)
		id := uuid.Must(uuid.NewV7()).String()
		cf := *f
		cf.Out, cf.ErrOut = &bytes.Buffer{}, &bytes.Buffer{}
		require.NoError(t, caseSubmitRun(&caseSubmitOptions{f: &cf, ctx: t.Context(), ID: id, File: caseFiles[i%len(caseFiles)], Now: time.Now}))
		ids = append(ids, id)
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		p.kill()
	}

	p = startAgentProc(t, f.DataDir)
	defer p.kill()
	var out bytes.Buffer
	cf := *f
	cf.Out = &out
	require.NoError(t, syncRun(&syncOptions{f: &cf, ctx: t.Context(), wait: true, timeout: 90 * time.Second, connect: connectSyncAgent}), p.logs.String())
	assert.Contains(t, out.String(), "queue empty")

	inbox, err := th.Inbox(t.Context())
	require.NoError(t, err)
	seen := map[string]int{}
	number := map[string]string{}
	for _, c := range inbox {
		seen[c.CaseID]++
		number[c.CaseID] = c.Receipt
	}
	cs, err := client.New(f.DataDir).Queue(t.Context())
	require.NoError(t, err)
	state := map[string]localapi.Case{}
	for _, c := range cs {
		state[c.ID] = c
	}
	for _, id := range ids {
		assert.Equal(t, 1, seen[id], "case %s exactly once at the town hall", id)
		_, err := th.OpenCase(t.Context(), id)
		assert.NoError(t, err, "case %s opens at the town hall", id)
		assert.Equal(t, "delivered", state[id].State)
		assert.Equal(t, number[id], state[id].ReceiptNumber, "the kit holds the town hall's receipt")
	}
	assert.Len(t, inbox, len(ids))
	pkts, err := os.ReadDir(filepath.Join(f.DataDir, store.PacketsDir))
	if err == nil {
		assert.Empty(t, pkts, "no packet left on the kit")
	}
	p.kill()
	s, err := store.Open(t.Context(), f.DataDir, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	for _, id := range ids {
		as, err := s.Attachments(t.Context(), id)
		require.NoError(t, err)
		for _, a := range as {
			assert.False(t, a.Biometric(), "no biometric of a delivered case")
		}
	}
	require.NoError(t, s.VerifyAudit(t.Context()))
	cancel()
	<-served
}
