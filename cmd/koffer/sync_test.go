package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		{name: "kick only", agent: &fakeSyncAgent{pending: 3}, wantOut: "sync started"},
		{name: "wait until empty", agent: &fakeSyncAgent{pending: 3, parked: 1}, wait: true, wantOut: "1 cases parked"},
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
