package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"koffer/agent/cases"
	"koffer/agent/client"
	"koffer/agent/localapi"
)

type caseSubmitOptions struct {
	f    *factory
	ctx  context.Context
	File string
	ID   string
	Now  func() time.Time
}

func newCaseCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "case",
		Short: "Work with cases",
	}
	cmd.AddCommand(newCaseSubmitCmd(f, nil))
	return cmd
}

func newCaseSubmitCmd(f *factory, runF func(*caseSubmitOptions) error) *cobra.Command {
	opts := &caseSubmitOptions{f: f, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "submit FILE.json",
		Short: "Validate a complete case and seal it into the outbox",
		Long: `Validate a complete case file (docs/case-file.md) with the rules the UI uses, and
hand it to the agent, which seals it into a packet for the town hall. Prints the
case id. Attachments are read relative to the case file. Submitting again with
the same --id never creates a second case.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx = cmd.Context()
			opts.File = args[0]
			if runF != nil {
				return runF(opts)
			}
			return caseSubmitRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.ID, "id", "", "case id (UUIDv7) to use, e.g. to retry a submit whose answer was lost")
	return cmd
}

func caseSubmitRun(opts *caseSubmitOptions) error {
	raw, err := cases.ReadFile(opts.ctx, opts.File)
	if err != nil {
		return reportProblems(opts.f, err)
	}
	f, err := cases.Parse(raw)
	if err != nil {
		return reportProblems(opts.f, err)
	}
	root, err := os.OpenRoot(filepath.Dir(opts.File))
	if err != nil {
		return fmt.Errorf("open case folder: %w", err)
	}
	defer root.Close()
	files, missing := cases.ReadAttachments(opts.ctx, root, f)
	if _, err := cases.Check(f, opts.Now(), files, missing); err != nil {
		return reportProblems(opts.f, err)
	}
	id := opts.ID
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return err
		}
		id = u.String()
	}
	ctx, cancel := context.WithTimeout(opts.ctx, 60*time.Second)
	defer cancel()
	res, err := client.New(opts.f.DataDir).Submit(ctx, localapi.SubmitRequest{ID: id, Case: raw, Files: files})
	if err != nil {
		var ae *localapi.Error
		if errors.As(err, &ae) && len(ae.Problems) > 0 {
			return reportProblems(opts.f, &cases.ValidationError{Problems: ae.Problems})
		}
		return fmt.Errorf("submit case %s: %w", id, err)
	}
	fmt.Fprintln(opts.f.Out, res.ID)
	if res.Duplicate {
		fmt.Fprintf(opts.f.ErrOut, "case %s was already submitted; nothing new stored\n", res.ID)
	}
	if res.Late {
		fmt.Fprintln(opts.f.ErrOut, "note: registration after the 14-day deadline (flagged for the town hall)")
	}
	return nil
}

// reportProblems prints every problem of a validation error, one per line, and returns
// errSilent; other errors are returned as they are.
func reportProblems(f *factory, err error) error {
	var ve *cases.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	fmt.Fprintln(f.ErrOut, "koffer: invalid case:")
	for _, p := range ve.Problems {
		field := p.Field
		if field == "" {
			field = "(file)"
		}
		fmt.Fprintf(f.ErrOut, "  %s: %s [%s] – %s\n", field, p.Message, p.Code, p.Hint)
	}
	return errSilent
}
