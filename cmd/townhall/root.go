package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"koffer/sync/townhall"
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

// factory carries what every command needs; tests build one with in-memory streams.
type factory struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	Getenv func(string) string

	// DataDir, DB and Objects are filled by the persistent flags --data, --db and --objects.
	DataDir string
	DB      string
	Objects string
	// LockLease is serve's --lock-lease.
	LockLease time.Duration
	// MaxOpenUploads, MaxUploadBytes and UploadTTL are serve's upload bounds (0: default).
	MaxOpenUploads int
	MaxUploadBytes int64
	UploadTTL      time.Duration
}

func newFactory(in io.Reader, out, errOut io.Writer) *factory {
	return &factory{In: in, Out: out, ErrOut: errOut, Getenv: os.Getenv}
}

// defaultDataDir is $TOWNHALL_DATA, else ./townhall-data.
func (f *factory) defaultDataDir() string {
	if d := f.Getenv("TOWNHALL_DATA"); d != "" {
		return d
	}
	return "townhall-data"
}

// logger writes JSON lines to ErrOut.
func (f *factory) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(f.ErrOut, nil))
}

// open opens the town hall in the data directory (creating it on first use), on PostgreSQL
// and an S3 bucket where --db and --objects name them.
func (f *factory) open(ctx context.Context) (*townhall.Townhall, error) {
	b, err := townhall.Connect(ctx, townhall.ConnectOptions{DB: f.DB, Objects: f.Objects, LockLease: f.LockLease})
	if err != nil {
		return nil, err
	}
	th, err := townhall.Open(ctx, f.DataDir, townhall.Options{Logger: f.logger(),
		Metadata: b.Metadata, Packets: b.Packets, Uploads: b.Uploads,
		MaxOpenUploads: f.MaxOpenUploads, MaxUploadBytes: f.MaxUploadBytes, UploadTTL: f.UploadTTL})
	if err != nil && b.Metadata != nil {
		_ = b.Metadata.Close()
	}
	return th, err
}

func newRootCmd(f *factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "townhall",
		Short:         "Reference town hall backend for koffer kits",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(f.In)
	root.SetOut(f.Out)
	root.SetErr(f.ErrOut)
	root.PersistentFlags().StringVar(&f.DataDir, "data", f.defaultDataDir(), "data directory (env TOWNHALL_DATA)")
	root.PersistentFlags().StringVar(&f.DB, "db", f.Getenv("TOWNHALL_DB"),
		"PostgreSQL URL postgres://user@host/db instead of SQLite in --data; password from PGPASSWORD or ~/.pgpass (env TOWNHALL_DB)")
	root.PersistentFlags().StringVar(&f.Objects, "objects", f.Getenv("TOWNHALL_OBJECTS"),
		"S3 bucket s3://bucket/prefix[?endpoint=URL&region=R] instead of files in --data; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws (env TOWNHALL_OBJECTS)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &flagError{err} })

	root.AddCommand(
		newServeCmd(f, nil),
		newKitCmd(f),
		newInboxCmd(f),
		newVisitsCmd(f),
		newStaffCmd(f),
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
	var ferr *flagError
	switch {
	case errors.Is(err, context.Canceled):
		return exitCancel
	case errors.As(err, &ferr):
		fmt.Fprintf(f.ErrOut, "townhall: %v\n\n%s", err, cmd.UsageString())
		return exitUsage
	}
	fmt.Fprintf(f.ErrOut, "townhall: %v\n", err)
	return exitError
}

// requireFlags returns a usage error naming the first flag left empty.
func requireFlags(flags map[string]string) error {
	for name, v := range flags {
		if v == "" {
			return &flagError{fmt.Errorf("--%s is required", name)}
		}
	}
	return nil
}
