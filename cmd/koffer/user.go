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

	"koffer/agent/keys"
	"koffer/store"
)

type userAddOptions struct {
	f              *factory
	ctx            context.Context
	Name           string
	PassphraseFile string
	By             string
	ByFile         string
	params         keys.Params // argon2id cost; zero = default (tests lower it)
}

func newUserCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the caseworkers who can log in",
	}
	cmd.AddCommand(newUserAddCmd(f, nil))
	cmd.AddCommand(newUserDisableCmd(f, nil)) // user_disable.go
	return cmd
}

func newUserAddCmd(f *factory, runF func(*userAddOptions) error) *cobra.Command {
	opts := &userAddOptions{f: f}
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a caseworker",
		Long: `Add a caseworker. The data key that encrypts drafts and visit packs is wrapped with
a key derived from the caseworker's passphrase (argon2id). The first caseworker
creates the data key; every later one needs an existing caseworker (--by) to
unwrap it. Passphrases are read from the files given, or one line each from
standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx = cmd.Context()
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return userAddRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.PassphraseFile, "passphrase-file", "", "file holding the new caseworker's passphrase")
	cmd.Flags().StringVar(&opts.By, "by", "", "existing caseworker who authorises the new one")
	cmd.Flags().StringVar(&opts.ByFile, "by-passphrase-file", "", "file holding the passphrase of --by")
	return cmd
}

func userAddRun(opts *userAddOptions) error {
	name := strings.TrimSpace(opts.Name)
	if name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\n/") {
		return errors.New("user name must be 1-64 characters without spaces or slashes")
	}
	in := bufio.NewReader(opts.f.In)
	pass, err := readPassphrase(opts.f, in, opts.PassphraseFile, "Passphrase for "+name)
	if err != nil {
		return err
	}
	if len(pass) < keys.MinPassphrase {
		return fmt.Errorf("passphrase shorter than %d characters", keys.MinPassphrase)
	}
	if _, err := keys.LoadKit(opts.f.DataDir); err != nil {
		return err
	}
	s, err := store.Open(opts.ctx, opts.f.DataDir, store.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.CaseworkerCount(opts.ctx)
	if err != nil {
		return err
	}
	var dk keys.DataKey
	if n == 0 {
		if dk, err = keys.NewDataKey(); err != nil {
			return err
		}
	} else {
		if opts.By == "" {
			return &flagError{errors.New("caseworkers exist already: --by NAME must authorise the new one")}
		}
		// The passphrase is asked before the name is looked up, and an unknown name fails
		// like a wrong passphrase: the CLI does not tell which caseworker names exist.
		byPass, err := readPassphrase(opts.f, in, opts.ByFile, "Passphrase of "+opts.By)
		if err != nil {
			return err
		}
		cw, err := s.Caseworker(opts.ctx, opts.By)
		if errors.Is(err, store.ErrNotFound) {
			return errBadAuthoriser
		}
		if err != nil {
			return err
		}
		if dk, err = keys.Unwrap(cw.Wrapped, byPass); errors.Is(err, keys.ErrWrongPassphrase) {
			return errBadAuthoriser
		} else if err != nil {
			return fmt.Errorf("--by: %w", err)
		}
	}
	defer dk.Wipe()
	wrapped, err := keys.Wrap(dk, pass, opts.params)
	if err != nil {
		return err
	}
	cw, err := s.AddCaseworker(opts.ctx, name, wrapped)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.f.Out, "caseworker %s added (id %d)\n", cw.Name, cw.ID)
	return nil
}

// errBadAuthoriser is the one answer for an unknown --by name and a wrong passphrase.
var errBadAuthoriser = errors.New("--by: wrong caseworker name or passphrase")

// readPassphrase reads the first line of file, or after a prompt on ErrOut one line of in
// (without echo when in is a terminal).
func readPassphrase(f *factory, in *bufio.Reader, file, prompt string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return []byte(strings.TrimRight(line, "\r")), nil
	}
	fmt.Fprintf(f.ErrOut, "%s: ", prompt)
	if tty, ok := f.In.(*os.File); ok && term.IsTerminal(int(tty.Fd())) {
		b, err := term.ReadPassword(int(tty.Fd())) // no echo on a terminal
		fmt.Fprintln(f.ErrOut)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		return b, nil
	}
	line, err := in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}
