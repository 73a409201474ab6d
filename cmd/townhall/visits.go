package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"koffer/sync/townhall"
	"koffer/sync/visit"
)

func newVisitsCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{Use: "visits", Short: "Visit packs (appointments and register extracts) for kits"}
	cmd.AddCommand(newVisitsAddCmd(f, nil))
	return cmd
}

type visitsAddOptions struct {
	f    *factory
	ctx  context.Context
	file string
	kit  string
}

func newVisitsAddCmd(f *factory, runF func(*visitsAddOptions) error) *cobra.Command {
	opts := &visitsAddOptions{f: f}
	cmd := &cobra.Command{
		Use:   "add FILE --kit NAME",
		Short: "Seal a visit pack to a kit; the kit fetches it on its next sync",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.file = cmd.Context(), args[0]
			if err := requireFlags(map[string]string{"kit": opts.kit}); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return visitsAddRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.kit, "kit", "", "kit the pack is for")
	return cmd
}

func visitsAddRun(opts *visitsAddOptions) error {
	data, err := os.ReadFile(opts.file)
	if err != nil {
		return err
	}
	// The kit cannot ask back: a pack it cannot read would leave the caseworker without
	// appointments or register extracts at the door.
	pack, err := visit.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.file, err)
	}
	th, err := opts.f.open(opts.ctx)
	if err != nil {
		return err
	}
	defer th.Close()
	id, err := th.AddVisits(opts.ctx, opts.kit, data)
	if err != nil {
		return err
	}
	// The same entry as the back office's import: the pack's id and how many appointments.
	err = th.RecordAudit(opts.ctx, townhall.AuditRecord{Actor: "cli", Event: "visitsImported", KitID: opts.kit,
		Detail: fmt.Sprintf("%s; %d", id, len(pack.Appointments))})
	if err != nil {
		return fmt.Errorf("visit pack %s queued for kit %s, but the audit entry failed: %w", id, opts.kit, err)
	}
	fmt.Fprintf(opts.f.Out, "visit pack %s signed and sealed for kit %s; deleted here once the kit stored it, or after its day\n", id, opts.kit)
	return nil
}
