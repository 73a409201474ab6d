package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"koffer/agent/client"
)

// syncState is what `koffer sync` reads of the agent: the outbox and the uplink.
type syncState struct {
	Pending   int    // sealed cases neither delivered nor parked
	Parked    int    // refused for good by the town hall, waiting for a technician
	Reachable bool   // the town hall answered the last attempt
	LastError string // stable code of the last failure, "" if none
}

// syncAgent is the part of the agent's local API that `koffer sync` needs.
type syncAgent interface {
	// SyncNow makes every waiting case due, backed-off ones included, and wakes the uplink.
	SyncNow(ctx context.Context) error
	// SyncState reports the outbox and uplink.
	SyncState(ctx context.Context) (syncState, error)
}

type syncOptions struct {
	f       *factory
	ctx     context.Context
	wait    bool
	timeout time.Duration
	poll    time.Duration // default 500 ms
	// connect reaches the agent of the data directory; tests set a fake.
	connect func(dataDir string) (syncAgent, error)
}

func newSyncCmd(f *factory, runF func(*syncOptions) error) *cobra.Command {
	opts := &syncOptions{f: f, connect: connectSyncAgent}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Try every waiting case now, backed-off ones too (with --wait: until the queue is empty)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return syncRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.wait, "wait", false, "wait until every sealed case is delivered (parked ones excepted)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 10*time.Minute, "give up waiting after this long")
	return cmd
}

func syncRun(opts *syncOptions) error {
	agent, err := opts.connect(opts.f.DataDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(opts.ctx, 10*time.Second)
	err = agent.SyncNow(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if !opts.wait {
		// The agent has made every waiting case due, backed-off ones included, and woken
		// its sender; it sends in the background.
		fmt.Fprintln(opts.f.Out, "sync: the agent is trying every waiting case now (koffer sync --wait waits until they are delivered)")
		return nil
	}
	poll := opts.poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	deadline := time.Now().Add(opts.timeout)
	var st syncState
	for {
		ctx, cancel := context.WithTimeout(opts.ctx, 10*time.Second)
		st, err = agent.SyncState(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		if st.Pending == 0 {
			break
		}
		if !time.Now().Before(deadline) {
			reach := "reachable"
			if !st.Reachable {
				reach = "unreachable"
			}
			fmt.Fprintf(opts.f.ErrOut, "sync: %s still waiting after %s; town hall %s, last error %q\n",
				plural(st.Pending, "case", "cases"), opts.timeout, reach, st.LastError)
			return errSilent
		}
		select {
		case <-opts.ctx.Done():
			return opts.ctx.Err()
		case <-time.After(min(poll, max(time.Until(deadline), 0))):
		}
	}
	fmt.Fprintln(opts.f.Out, "queue empty: every sealed case is at the town hall")
	if st.Parked > 0 {
		fmt.Fprintf(opts.f.Out, "%s parked (refused by the town hall): see koffer queue ls\n", plural(st.Parked, "case", "cases"))
	}
	return nil
}

// plural is "1 case", "2 cases".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// connectSyncAgent reaches the agent of dataDir over its local API.
func connectSyncAgent(dataDir string) (syncAgent, error) {
	return localSyncAgent{client.New(dataDir)}, nil
}

// localSyncAgent is syncAgent over the agent's unix socket.
type localSyncAgent struct{ c *client.Client }

func (a localSyncAgent) SyncNow(ctx context.Context) error { return a.c.Sync(ctx) }

func (a localSyncAgent) SyncState(ctx context.Context) (syncState, error) {
	st, err := a.c.Status(ctx)
	if err != nil {
		return syncState{}, err
	}
	s := syncState{Pending: st.Queue.Depth - st.Queue.Parked, Parked: st.Queue.Parked}
	if st.Uplink != nil {
		s.Reachable, s.LastError = st.Uplink.Reachable, st.Uplink.LastError
	}
	return s, nil
}
