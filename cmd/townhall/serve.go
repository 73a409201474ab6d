package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"koffer/sync/townhall"
)

type serveOptions struct {
	f         *factory
	ctx       context.Context
	listen    string
	hostnames []string
	// ready, if set, is told the address once the town hall listens (tests).
	ready func(addr string)
	staff staffOptions // the back office (staffserve.go)
}

func newServeCmd(f *factory, runF func(*serveOptions) error) *cobra.Command {
	opts := &serveOptions{f: f}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve kits over HTTPS with mutual TLS (CA and keys made on first use of --data)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return serveRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.listen, "listen", "127.0.0.1:8443", "address to listen on")
	cmd.Flags().StringSliceVar(&opts.hostnames, "hostname", nil, "extra DNS name or IP for the server certificate (repeatable)")
	cmd.Flags().StringVar(&opts.staff.listen, "staff-listen", "", "address of the back office for staff (HTTPS, apart from the kits' endpoint); empty: none")
	cmd.Flags().StringVar(&opts.staff.dropDir, "handover-dir", "", "directory the back office drops hand-over zips into")
	cmd.Flags().StringVar(&opts.staff.handoverURL, "handover-url", "", "URL the back office POSTs hand-over zips to (Idempotency-Key: case id)")
	cmd.Flags().DurationVar(&opts.staff.flagAfter, "flag-after", 14*24*time.Hour, "flag a kit not heard from for this long")
	cmd.Flags().StringVar(&opts.staff.certFile, "staff-cert", "", "PEM certificate of the back office (default: self-signed, kept in --data)")
	cmd.Flags().StringVar(&opts.staff.keyFile, "staff-key", "", "PEM key of --staff-cert")
	cmd.Flags().DurationVar(&opts.staff.idleLock, "staff-idle-lock", 15*time.Minute, "lock a back-office session after this long idle")
	cmd.Flags().DurationVar(&f.LockLease, "lock-lease", townhall.DefaultLockLease, "with --db: how long a dead replica can hold an upload's lock")
	cmd.Flags().IntVar(&f.MaxOpenUploads, "max-open-uploads", townhall.DefaultMaxOpenUploads, "uploads one kit may hold open (not yet committed)")
	cmd.Flags().Int64Var(&f.MaxUploadBytes, "max-upload-bytes", 0, "bytes one kit may hold in open uploads (0: four times the largest packet)")
	cmd.Flags().DurationVar(&f.UploadTTL, "upload-ttl", townhall.DefaultUploadTTL, "purge an upload not committed after this long")
	return cmd
}

func serveRun(opts *serveOptions) error {
	th, err := opts.f.open(opts.ctx)
	if err != nil {
		return err
	}
	defer th.Close()
	cfg, err := th.ServerTLS(opts.hostnames...)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(opts.ctx, "tcp", opts.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(opts.f.ErrOut, "townhall: serving https://%s (data %s)\n", ln.Addr(), opts.f.DataDir)
	if opts.ready != nil {
		opts.ready(ln.Addr().String())
	}
	staffCtx, stopStaff := context.WithCancel(opts.ctx)
	defer stopStaff()
	waitStaff, err := startStaff(staffCtx, opts, th)
	if err != nil {
		_ = ln.Close()
		return err
	}
	err = th.Serve(opts.ctx, ln, cfg)
	stopStaff()
	return errors.Join(err, waitStaff())
}
