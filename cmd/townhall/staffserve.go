package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net"
	"time"

	"koffer/devices/fingerprint"
	"koffer/devices/fingerprint/iso19794"
	"koffer/sync/townhall"
	"koffer/sync/townhall/backoffice"
)

// staffOptions are the back office's flags of `townhall serve`.
type staffOptions struct {
	listen      string
	dropDir     string
	handoverURL string
	flagAfter   time.Duration
	idleLock    time.Duration
	certFile    string // the town's own certificate for the back office (PEM); default self-signed
	keyFile     string
	// ready, if set, is told the back office's address once it listens (tests).
	ready func(addr string)
}

// startStaff serves the back office on its own listener, over TLS (Townhall.StaffTLS) without
// client certificates: the kits' mutual-TLS endpoint stays apart. It returns a function that waits for the end.
func startStaff(ctx context.Context, opts *serveOptions, th *townhall.Townhall) (func() error, error) {
	so := opts.staff
	if so.listen == "" {
		return func() error { return nil }, nil
	}
	bo, err := backoffice.New(th, backoffice.Options{
		Logger: opts.f.logger(), DropDir: so.dropDir, HandoverURL: so.handoverURL, FlagAfter: so.flagAfter,
		IdleLock: so.idleLock, Fingerprints: renderFingerprints,
	})
	if err != nil {
		return nil, err
	}
	cfg, err := th.StaffTLS(so.certFile, so.keyFile, opts.hostnames...)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", so.listen)
	if err != nil {
		return nil, fmt.Errorf("staff listen: %w", err)
	}
	fmt.Fprintf(opts.f.ErrOut, "townhall: back office on https://%s\n", ln.Addr())
	if so.ready != nil {
		so.ready(ln.Addr().String())
	}
	done := make(chan error, 1)
	go func() { done <- bo.Serve(ctx, ln, cfg) }()
	return func() error { return <-done }, nil
}

// renderFingerprints reads an ISO/IEC 19794-4 record and returns each view as PNG.
func renderFingerprints(record []byte) ([]backoffice.FingerImage, error) {
	r, err := iso19794.Parse(record)
	if err != nil {
		return nil, err
	}
	var out []backoffice.FingerImage
	for _, v := range r.Views {
		img, err := r.Image(v)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return nil, err
		}
		out = append(out, backoffice.FingerImage{Finger: fingerprint.Finger(v.Position).German(), Quality: int(v.Quality), PNG: buf.Bytes()})
	}
	return out, nil
}
