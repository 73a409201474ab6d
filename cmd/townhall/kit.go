package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"koffer/sync/enroll"
	"koffer/sync/townhall"
)

func newKitCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{Use: "kit", Short: "Manage the kits enrolled at this town hall"}
	cmd.AddCommand(newKitAddCmd(f, nil), newKitRevokeCmd(f, nil), newKitAllowSealedCmd(f, nil))
	return cmd
}

type kitAddOptions struct {
	f    *factory
	ctx  context.Context
	name string
	url  string
	out  string
	// letterhead the kit prints (authority name, address, place of issue)
	letterhead enroll.Letterhead
}

func newKitAddCmd(f *factory, runF func(*kitAddOptions) error) *cobra.Command {
	opts := &kitAddOptions{f: f}
	cmd := &cobra.Command{
		Use:   "add NAME --url URL --out FILE",
		Short: "Enroll a kit and write its enrollment bundle (a secret: hand it over out of band)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.name = cmd.Context(), args[0]
			if err := requireFlags(map[string]string{"url": opts.url, "out": opts.out}); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return kitAddRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.url, "url", "", "how the kit reaches this town hall (https://host:port)")
	cmd.Flags().StringVar(&opts.out, "out", "", "file to write the enrollment bundle to")
	cmd.Flags().StringVar(&opts.letterhead.AuthorityName, "authority-name", "", `issuing authority printed by the kit ("Stadt Musterstadt – Bürgeramt")`)
	cmd.Flags().StringVar(&opts.letterhead.AuthorityAddress, "authority-address", "", `its address ("Marktplatz 1, 12345 Musterstadt")`)
	cmd.Flags().StringVar(&opts.letterhead.Place, "place", "", `place of issue printed in the date line ("Musterstadt")`)
	return cmd
}

func kitAddRun(opts *kitAddOptions) error {
	th, err := opts.f.open(opts.ctx)
	if err != nil {
		return err
	}
	defer th.Close()
	b, err := th.AddKit(opts.ctx, opts.name, opts.url, townhall.KitOptions{Letterhead: opts.letterhead})
	if err != nil {
		return err
	}
	data, err := b.Marshal()
	if err != nil {
		return err
	}
	// O_EXCL: never overwrite another kit's secret bundle.
	out, err := os.OpenFile(opts.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if _, err := out.Write(append(data, '\n')); err != nil {
		_ = out.Close()
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	// Audited as the back office audits its actions; after the bundle is written, so a failure
	// here leaves nothing half done but the entry, and says so.
	if err := th.RecordAudit(opts.ctx, townhall.AuditRecord{Actor: "cli", Event: "kitAdded", KitID: opts.name, Detail: opts.url}); err != nil {
		return fmt.Errorf("kit %s enrolled and bundle written, but the audit entry failed: %w", opts.name, err)
	}
	fmt.Fprintf(opts.f.Out, "kit %s enrolled; bundle written to %s (import with: koffer init --enroll %s)\n", opts.name, opts.out, opts.out)
	return nil
}
