package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// exitCode is what the process returns; commands shape it through the error types below.
type exitCode int

const (
	exitOK     exitCode = 0
	exitError  exitCode = 1
	exitUsage  exitCode = 2
	exitCancel exitCode = 130
)

// flagError marks a usage mistake: the usage text is printed after the message.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

// errSilent means the command has already told the user everything; exit non-zero quietly.
var errSilent = errors.New("silent error")

// exitError lets a command choose its exit status (doctor: 0 ok, 1 warn, 2 fail).
type exitStatusError struct{ code exitCode }

func (e *exitStatusError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// factory carries what every command needs; tests build one with in-memory streams.
type factory struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	Getenv func(string) string

	// DataDir is filled by the persistent --data flag.
	DataDir string
}

func newFactory(in io.Reader, out, errOut io.Writer) *factory {
	return &factory{In: in, Out: out, ErrOut: errOut, Getenv: os.Getenv}
}

// defaultDataDir is $KOFFER_DATA, else /var/lib/koffer.
func (f *factory) defaultDataDir() string {
	if d := f.Getenv("KOFFER_DATA"); d != "" {
		return d
	}
	return "/var/lib/koffer"
}

func newRootCmd(f *factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "koffer",
		Short:         "Field kit agent of the Bürgerkoffer",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(f.In)
	root.SetOut(f.Out)
	root.SetErr(f.ErrOut)
	root.PersistentFlags().StringVar(&f.DataDir, "data", f.defaultDataDir(), "data directory (env KOFFER_DATA)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &flagError{err} })

	root.AddCommand(
		newVersionCmd(f, nil),
		newInitCmd(f, nil),
		newAgentCmd(f, nil),
		newUserCmd(f),
		newStatusCmd(f, nil),
		newCaseCmd(f),
		newQueueCmd(f),
		newFingerCmd(f, nil),
		newPrintCmd(f, nil),
		newDoctorCmd(f, nil),
		newDevicesCmd(f, nil),
		newSyncCmd(f, nil),
		newScanCmd(f, nil),
		newManCmd(f),
	)
	return root
}

// run executes the CLI and maps errors to exit codes.
func run(ctx context.Context, args []string, f *factory) exitCode {
	root := newRootCmd(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var status *exitStatusError
	var ferr *flagError
	switch {
	case errors.As(err, &status):
		return status.code
	case errors.Is(err, errSilent):
		return exitError
	case errors.Is(err, context.Canceled):
		return exitCancel
	case errors.As(err, &ferr):
		fmt.Fprintf(f.ErrOut, "koffer: %v\n\n%s", err, cmd.UsageString())
		return exitUsage
	}
	fmt.Fprintf(f.ErrOut, "koffer: %v\n", err)
	return exitError
}
