package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"koffer/agent/casework"
	"koffer/agent/client"
)

type statusOptions struct {
	f    *factory
	ctx  context.Context
	JSON bool
}

func newStatusCmd(f *factory, runF func(*statusOptions) error) *cobra.Command {
	opts := &statusOptions{f: f}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the agent's kit, mode and queue",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return statusRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func statusRun(opts *statusOptions) error {
	ctx, cancel := context.WithTimeout(opts.ctx, 10*time.Second)
	defer cancel()
	st, err := client.New(opts.f.DataDir).Status(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.f.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return err
		}
		return statusExit(st.DatabaseDamaged)
	}
	th := st.TownHall
	if th == "" {
		th = "(none: training kit)"
	}
	audit := "ok"
	if !st.AuditOK {
		audit = "BROKEN: " + st.AuditInfo
	}
	w := opts.f.Out
	fmt.Fprintf(w, "kit:        %s (%s)\n", st.KitID, st.Mode)
	fmt.Fprintf(w, "town hall:  %s\n", th)
	fmt.Fprintf(w, "uptime:     %s\n", st.Uptime.Round(time.Second))
	fmt.Fprintf(w, "logged in:  %t\n", st.Unlocked)
	fmt.Fprintf(w, "queue:      %d waiting (%d parked, %d bytes), oldest %s\n", st.Queue.Depth, st.Queue.Parked, st.Queue.Bytes,
		time.Duration(st.Queue.OldestAgeSec)*time.Second)
	if up := st.Uplink; up != nil {
		state := "reachable"
		if !up.Reachable {
			state = "unreachable"
		}
		if up.LastContact.IsZero() && up.LastError == "" {
			state = "not tried yet"
		}
		// An error older than the last contact is history, not the state of the link.
		if up.LastError != "" && (!up.Reachable || up.LastErrorAt.After(up.LastContact)) {
			state += fmt.Sprintf(" (last error %s at %s)", up.LastError, up.LastErrorAt.Local().Format(time.DateTime))
		}
		fmt.Fprintf(w, "uplink:     %s, %d bytes sent\n", state, up.BytesSent)
		if !up.RevokedAt.IsZero() {
			fmt.Fprintf(w, "REVOKED:    the town hall revoked this kit at %s [uplink.revoked]: it sends nothing, nobody can log in; hand it back to the town hall\n",
				up.RevokedAt.Local().Format(time.DateTime))
		}
	}
	if age := time.Duration(st.Queue.OldestAgeSec) * time.Second; st.Queue.Depth > 0 && age > 7*24*time.Hour {
		fmt.Fprintf(w, "WARNING:    the oldest case has waited %d days for the town hall: check the uplink\n", int(age.Hours()/24))
	}
	if st.DatabaseDamaged != "" {
		fmt.Fprintf(w, "DATENBANK:  %s\n", casework.DamagedHint)
		fmt.Fprintf(w, "DATABASE:   DAMAGED, no new cases are taken: run koffer doctor and call a technician (%s)\n", st.DatabaseDamaged)
	}
	fmt.Fprintf(w, "delivered:  %d\n", st.Queue.Delivered)
	fmt.Fprintf(w, "drafts:     %d\n", st.Queue.Drafts)
	fmt.Fprintf(w, "audit log:  %s\n", audit)
	for _, d := range st.Devices {
		line := d.State
		if d.Driver != "" {
			line += " (" + d.Driver + " " + d.Address + ")"
		}
		if d.Code != "" {
			line += " [" + d.Code + "]"
		}
		fmt.Fprintf(w, "%-11s %s\n", d.Kind+":", line)
	}
	return statusExit(st.DatabaseDamaged)
}

// statusExit gives koffer status doctor's exit code for what needs a technician: 2 while the
// start-up quick check found the database damaged, so a script or monitor does not read "ok".
func statusExit(damaged string) error {
	if damaged != "" {
		return &exitStatusError{code: 2}
	}
	return nil
}
