package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"koffer/devices/escl"
	"koffer/devices/sim"
)

type scanOptions struct {
	f        *factory
	ctx      context.Context
	out      string
	source   string
	color    bool
	scanner  string
	training bool
	timeout  time.Duration

	// transport carries the eSCL requests; nil is TCP. Tests replace it.
	transport http.RoundTripper
}

func newScanCmd(f *factory, runF func(*scanOptions) error) *cobra.Command {
	opts := &scanOptions{f: f}
	cmd := &cobra.Command{
		Use:   "scan --out FILE.pdf [--source flatbed|adf] [--color] [--scanner URI]",
		Short: "Scan a document into one PDF (300 dpi grey A4; --color for photos)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.ctx = c.Context()
			if runF != nil {
				return runF(opts)
			}
			return scanRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.out, "out", "", "PDF file to write (written only when every page arrived)")
	cmd.Flags().StringVar(&opts.source, "source", "flatbed", "paper source: flatbed or adf")
	cmd.Flags().BoolVar(&opts.color, "color", false, "scan in colour (photos) instead of grey")
	cmd.Flags().StringVar(&opts.scanner, "scanner", "", "eSCL scanner, e.g. http://192.168.1.20/eSCL (env KOFFER_SCANNER)")
	cmd.Flags().BoolVar(&opts.training, "training", false, "use the simulated scanner of training mode")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 10*time.Minute, "give up on the whole job after this long")
	return cmd
}

// scannerBaseURL turns what the user typed into an eSCL root: "host", "host:port",
// "http://host" and "http://host/eSCL" all work; no path means /eSCL.
func scannerBaseURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("--scanner %q: want http://HOST[:PORT][/eSCL]", s)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/eSCL"
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func scanRun(opts *scanOptions) error {
	if opts.out == "" {
		return &flagError{errors.New("--out FILE.pdf is required")}
	}
	var src escl.Source
	switch strings.ToLower(opts.source) {
	case "flatbed", "":
		src = escl.Flatbed
	case "adf", "feeder":
		src = escl.ADF
	default:
		return &flagError{fmt.Errorf("--source %q: want flatbed or adf", opts.source)}
	}
	settings := escl.DocumentSettings(src)
	if opts.color {
		settings = escl.PhotoSettings(src)
	}

	rt, base := opts.transport, ""
	switch {
	case opts.training && opts.scanner != "":
		return &flagError{errors.New("--scanner and --training exclude each other")}
	case opts.training:
		rt, base = sim.NewScanner(sim.ScannerOptions{ADFPages: 3}), sim.ScannerURL
	default:
		uri := opts.scanner
		if uri == "" {
			uri = opts.f.Getenv("KOFFER_SCANNER")
		}
		if uri == "" {
			return &flagError{errors.New("no scanner: give --scanner URI (or KOFFER_SCANNER), or --training")}
		}
		var err error
		if base, err = scannerBaseURL(uri); err != nil {
			return &flagError{err}
		}
	}
	ctx := opts.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}
	c, err := escl.New(base, escl.Options{Transport: rt})
	if err != nil {
		return &flagError{err}
	}
	start := time.Now()
	pages, err := c.ScanToPDF(ctx, settings, opts.out)
	if err != nil {
		return fingerFail(opts.f, err) // prints code and German hint of a device error
	}
	mode := "grey"
	if opts.color {
		mode = "colour"
	}
	fmt.Fprintf(opts.f.Out, "scanned %d page(s), %d dpi %s, in %s to %s\n",
		pages, settings.Resolution, mode, time.Since(start).Round(time.Millisecond), opts.out)
	return nil
}
