package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

type kitRevokeOptions struct {
	f      *factory
	ctx    context.Context
	name   string
	reason string
}

func newKitRevokeCmd(f *factory, runF func(*kitRevokeOptions) error) *cobra.Command {
	opts := &kitRevokeOptions{f: f}
	cmd := &cobra.Command{
		Use:   "revoke NAME [--reason verloren|gestohlen|außer Betrieb]",
		Short: "Shut a lost or stolen kit out: every request it makes is refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.name = cmd.Context(), args[0]
			if runF != nil {
				return runF(opts)
			}
			return kitRevokeRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.reason, "reason", "verloren", "why (shown in the fleet view and the audit log)")
	return cmd
}

func kitRevokeRun(opts *kitRevokeOptions) error {
	th, err := opts.f.open(opts.ctx)
	if err != nil {
		return err
	}
	defer th.Close()
	if err := th.RevokeKit(opts.ctx, opts.name, "cli", opts.reason); err != nil {
		return err
	}
	fmt.Fprintf(opts.f.Out, "kit %s revoked; re-enrol it under a new name to issue a new bundle\n", opts.name)
	return nil
}

type kitAllowSealedOptions struct {
	f    *factory
	ctx  context.Context
	name string
}

func newKitAllowSealedCmd(f *factory, runF func(*kitAllowSealedOptions) error) *cobra.Command {
	opts := &kitAllowSealedOptions{f: f}
	return &cobra.Command{
		Use:   "allow-sealed NAME",
		Short: "Let a revoked kit deliver the packets it sealed before its revocation (only once it is back in safe hands)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.name = cmd.Context(), args[0]
			if runF != nil {
				return runF(opts)
			}
			return kitAllowSealedRun(opts)
		},
	}
}

func kitAllowSealedRun(opts *kitAllowSealedOptions) error {
	th, err := opts.f.open(opts.ctx)
	if err != nil {
		return err
	}
	defer th.Close()
	if err := th.AllowSealedBeforeRevocation(opts.ctx, opts.name, "cli"); err != nil {
		return err
	}
	fmt.Fprintf(opts.f.Out, "kit %s may deliver packets sealed before its revocation; each is audited\n", opts.name)
	return nil
}
