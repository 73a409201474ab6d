package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"koffer/agent/client"
)

// TestScripts runs the CLI end to end as a user would: testdata/script/*.txtar. Each script gets
// the case examples in $WORK/cases and KOFFER_DATA=$WORK/data.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("KOFFER_DATA", filepath.Join(e.WorkDir, "data"))
			return os.CopyFS(filepath.Join(e.WorkDir, "cases"), os.DirFS("../../testdata/cases"))
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// waitagent: wait until the agent of $KOFFER_DATA answers on its socket.
			"waitagent": func(ts *testscript.TestScript, neg bool, args []string) {
				c := client.New(ts.Getenv("KOFFER_DATA"))
				deadline := time.Now().Add(20 * time.Second)
				for {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					_, err := c.Status(ctx)
					cancel()
					if err == nil {
						return
					}
					if time.Now().After(deadline) {
						ts.Fatalf("agent not ready: %v", err)
					}
					time.Sleep(10 * time.Millisecond)
				}
			},
		},
	})
}
