package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"koffer/sync/townhall"
)

func newInboxCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{Use: "inbox", Short: "Cases received from kits"}
	cmd.AddCommand(newInboxLsCmd(f, nil), newInboxOpenCmd(f, nil))
	return cmd
}

type inboxLsOptions struct {
	f    *factory
	ctx  context.Context
	json bool
}

func newInboxLsCmd(f *factory, runF func(*inboxLsOptions) error) *cobra.Command {
	opts := &inboxLsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List received cases, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return inboxLsRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print a JSON array")
	return cmd
}

func inboxLsRun(opts *inboxLsOptions) error {
	th, err := opts.f.open(opts.ctx)
	if err != nil {
		return err
	}
	defer th.Close()
	entries, err := th.Inbox(opts.ctx)
	if err != nil {
		return err
	}
	if opts.json {
		enc := json.NewEncoder(opts.f.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	w := tabwriter.NewWriter(opts.f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CASE\tSERVICE\tKIT\tRECEIVED\tRECEIPT")
	for _, e := range entries {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.CaseID, e.Service, e.Kit, e.ReceivedAt.Local().Format(time.DateTime), e.Receipt)
	}
	return w.Flush()
}

type inboxOpenOptions struct {
	f      *factory
	ctx    context.Context
	caseID string
	out    string
}

func newInboxOpenCmd(f *factory, runF func(*inboxOpenOptions) error) *cobra.Command {
	opts := &inboxOpenOptions{f: f}
	cmd := &cobra.Command{
		Use:   "open CASE-ID --out DIR",
		Short: "Verify and decrypt one case into DIR (manifest.json and every part)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.caseID = cmd.Context(), args[0]
			if err := requireFlags(map[string]string{"out": opts.out}); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return inboxOpenRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.out, "out", "", "directory to write the case's files to")
	return cmd
}

func inboxOpenRun(opts *inboxOpenOptions) error {
	th, err := opts.f.open(opts.ctx)
	if err != nil {
		return err
	}
	defer th.Close()
	p, err := th.OpenCase(opts.ctx, opts.caseID)
	if err != nil {
		return err
	}
	// Personal data leaves the town hall's store: audited like a case opened in the back office.
	if err := th.RecordAudit(opts.ctx, townhall.AuditRecord{Actor: "cli", Event: "caseExported", CaseID: opts.caseID, KitID: p.Manifest.KitID}); err != nil {
		return err
	}
	if err := os.MkdirAll(opts.out, 0o700); err != nil {
		return err
	}
	manifest, err := json.MarshalIndent(p.Manifest, "", "  ")
	if err != nil {
		return err
	}
	// Part names are checked by packet.Open: lowercase, no slashes, unique, never
	// manifest.json, so they stay in out. writeNew never overwrites: a file already there
	// (an earlier export, or a name planted by someone else) is an error, not replaced.
	if err := writeNew(filepath.Join(opts.out, "manifest.json"), manifest); err != nil {
		return err
	}
	for _, part := range p.Parts {
		if err := writeNew(filepath.Join(opts.out, part.Name), part.Data); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.f.Out, "case %s: %d parts verified and written to %s\n", opts.caseID, len(p.Parts), opts.out)
	return nil
}

// writeNew creates path exclusively and writes data to it.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("inbox open: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("inbox open: %w", err)
	}
	return f.Close()
}
