package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"koffer/agent"
)

type userDisableOptions struct {
	f      *factory
	ctx    context.Context
	Name   string
	By     string
	ByFile string
}

func newUserDisableCmd(f *factory, runF func(*userDisableOptions) error) *cobra.Command {
	opts := &userDisableOptions{f: f}
	cmd := &cobra.Command{
		Use:   "disable NAME --by OTHER",
		Short: "Disable a caseworker and rotate the data key",
		Long: `Disable a caseworker. They can no longer log in, and the data key is rotated:
drafts, attachments, visit packs and the visit key are re-encrypted with a new key,
sealed to every other caseworker without their passphrases. A data key the disabled
caseworker may have kept opens nothing afterwards. Another caseworker (--by) authorises
it with their passphrase. Stop the agent first (the data directory is locked while it
runs). See docs/security.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx = cmd.Context()
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return userDisableRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.By, "by", "", "caseworker who authorises it (required)")
	cmd.Flags().StringVar(&opts.ByFile, "by-passphrase-file", "", "file holding the passphrase of --by")
	return cmd
}

func userDisableRun(opts *userDisableOptions) error {
	if opts.By == "" {
		return &flagError{errors.New("--by NAME must authorise disabling a caseworker")}
	}
	pass, err := readPassphrase(opts.f, bufio.NewReader(opts.f.In), opts.ByFile, "Passphrase of "+opts.By)
	if err != nil {
		return err
	}
	defer clear(pass)
	if err := agent.DisableCaseworker(opts.ctx, opts.f.DataDir, opts.Name, opts.By, pass); err != nil {
		return err
	}
	fmt.Fprintf(opts.f.Out, "caseworker %s disabled; data key rotated\n", opts.Name)
	return nil
}
