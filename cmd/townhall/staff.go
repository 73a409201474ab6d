package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"koffer/sync/townhall"
	"koffer/sync/townhall/backoffice"
)

func newStaffCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{Use: "staff", Short: "Manage back-office accounts"}
	cmd.AddCommand(newStaffAddCmd(f, nil))
	return cmd
}

type staffAddOptions struct {
	f        *factory
	ctx      context.Context
	name     string
	role     string
	passFile string
}

func newStaffAddCmd(f *factory, runF func(*staffAddOptions) error) *cobra.Command {
	opts := &staffAddOptions{f: f}
	cmd := &cobra.Command{
		Use:   "add NAME --role Sachbearbeitung|Administration",
		Short: "Create a back-office account; the passphrase is read from stdin (or --passphrase-file)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.name = cmd.Context(), args[0]
			if err := requireFlags(map[string]string{"role": opts.role}); err != nil {
				return err
			}
			if _, err := backoffice.ParseRole(opts.role); err != nil {
				return &flagError{err}
			}
			if runF != nil {
				return runF(opts)
			}
			return staffAddRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.role, "role", "", "Sachbearbeitung or Administration")
	cmd.Flags().StringVar(&opts.passFile, "passphrase-file", "", "read the passphrase from the first line of this file")
	return cmd
}

func staffAddRun(opts *staffAddOptions) error {
	role, err := backoffice.ParseRole(opts.role)
	if err != nil {
		return err
	}
	pass, err := staffPassphrase(opts)
	if err != nil {
		return err
	}
	hash, err := backoffice.HashPassphrase(pass)
	if err != nil {
		return err
	}
	th, err := opts.f.open(opts.ctx)
	if err != nil {
		return err
	}
	defer th.Close()
	if err := th.AddStaff(opts.ctx, townhall.Staff{Name: opts.name, Role: role, Hash: hash}, "cli"); err != nil {
		return err
	}
	fmt.Fprintf(opts.f.Out, "account %s created (%s)\n", opts.name, backoffice.RoleName(role))
	return nil
}

// staffPassphrase reads the first line of --passphrase-file, or of stdin (without echo on a
// terminal).
func staffPassphrase(opts *staffAddOptions) (string, error) {
	if opts.passFile != "" {
		b, err := os.ReadFile(opts.passFile)
		if err != nil {
			return "", fmt.Errorf("read passphrase: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	fmt.Fprint(opts.f.ErrOut, "passphrase: ")
	if tty, ok := opts.f.In.(*os.File); ok && term.IsTerminal(int(tty.Fd())) {
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(opts.f.ErrOut)
		if err != nil {
			return "", fmt.Errorf("read passphrase: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(opts.f.In).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read passphrase: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
