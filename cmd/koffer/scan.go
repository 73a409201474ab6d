package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"koffer/agent/doctor"
	"koffer/agent/documents/scanpdf"
	"koffer/devices"
	"koffer/devices/escl"
	"koffer/devices/sim"
	"koffer/devices/usb"
)

type scanOptions struct {
	f *factory

	Out      string
	Source   string // flatbed | adf
	Duplex   bool
	Color    bool
	Scanner  string // eSCL root URI
	Training bool   // the simulated scanner of training mode: nothing else selects it
	Timeout  time.Duration

	// Transport carries the eSCL exchanges (nil: TCP). Tests and USB wiring set it.
	Transport http.RoundTripper
	Logger    *slog.Logger
}

func newScanCmd(f *factory, runF func(*scanOptions) error) *cobra.Command {
	opts := &scanOptions{f: f}
	cmd := &cobra.Command{
		Use:   "scan --out FILE.pdf",
		Short: "Scan a document into one PDF (300 dpi grey A4; --color for photos)",
		Long: "Scan from an eSCL (AirScan) scanner into one PDF. The file appears only when every page\n" +
			"has arrived; a jam or a pulled cable leaves nothing behind.\n" +
			"The scanner is --scanner, else $KOFFER_SCANNER (e.g. http://192.168.1.20/eSCL).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Out == "" {
				return &flagError{errors.New("--out is required")}
			}
			if opts.Source != "flatbed" && opts.Source != "adf" {
				return &flagError{fmt.Errorf("--source must be flatbed or adf, not %q", opts.Source)}
			}
			if opts.Training && opts.Scanner != "" {
				return &flagError{errors.New("--scanner and --training exclude each other")}
			}
			if opts.Scanner == "" && !opts.Training {
				opts.Scanner = f.Getenv("KOFFER_SCANNER")
			}
			if opts.Scanner == "" && !opts.Training {
				return &flagError{errors.New("no scanner: give --scanner URI, set KOFFER_SCANNER, or use --training")}
			}
			if runF != nil {
				return runF(opts)
			}
			return scanRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Out, "out", "", "PDF file to write")
	cmd.Flags().StringVar(&opts.Source, "source", "flatbed", "flatbed or adf (document feeder)")
	cmd.Flags().BoolVar(&opts.Duplex, "duplex", false, "both sides (adf only)")
	cmd.Flags().BoolVar(&opts.Color, "color", false, "scan in colour (photos)")
	cmd.Flags().StringVar(&opts.Scanner, "scanner", "", "eSCL root URI of the scanner, or usb (env KOFFER_SCANNER)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "give up on the whole job after this long")
	cmd.Flags().BoolVar(&opts.Training, "training", false, "scan from the simulated scanner of training mode")
	return cmd
}

func scanRun(ctx context.Context, opts *scanOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Training {
		sc, err := sim.StartScanner(sim.ScannerOptions{})
		if err != nil {
			return err
		}
		defer sc.Close(context.WithoutCancel(ctx))
		opts.Scanner = sc.URL()
	}
	if opts.Scanner == "usb" {
		rt, closeAll, err := usb.OpenIPP(devices.Scanner, usb.ID{}, usb.IPPOptions{})
		if err != nil {
			return scanFailed(opts, log, err)
		}
		defer closeAll()
		opts.Scanner, opts.Transport = usbESCL, rt
	}
	c, err := escl.New(opts.Scanner, escl.Options{Transport: opts.Transport, Logger: log})
	if err != nil {
		return &flagError{err}
	}
	src := escl.Platen
	if opts.Source == "adf" {
		src = escl.Feeder
	}
	var pages int
	err = func() error {
		caps, err := c.Capabilities(ctx)
		if err != nil {
			return err
		}
		s, err := caps.Settings(escl.Profile{Source: src, Duplex: opts.Duplex, Color: opts.Color}, c.Quirks())
		if err != nil {
			return err
		}
		pages, err = scanpdf.WriteFile(opts.Out, func(w *scanpdf.Writer) error {
			_, err := c.Scan(ctx, caps, s, func(p *escl.Page) error {
				if err := w.AddJPEG(p.Body, s.Resolution.X, s.Resolution.Y); err != nil {
					return err
				}
				fmt.Fprintf(opts.f.ErrOut, "Seite %d gescannt\n", w.Pages())
				return nil
			})
			return err
		})
		return err
	}()
	if err != nil {
		return scanFailed(opts, log, err)
	}
	fmt.Fprintf(opts.f.Out, "%d Seite(n) gescannt: %s\n", pages, opts.Out)
	return nil
}

// usbESCL is the eSCL root on an IPP-over-USB device (the host part is not used on USB).
const usbESCL = escl.USBRoot

// scanFailed tells the caseworker the German hint and the technician the code.
func scanFailed(opts *scanOptions, log *slog.Logger, err error) error {
	var de *devices.Error
	if !errors.As(err, &de) {
		return err
	}
	// The cause goes to the screen too: on the CLI the log is often not kept, and the code
	// alone does not say which request failed.
	fmt.Fprintf(opts.f.ErrOut, "Scan fehlgeschlagen: %s\n(Für die Technik: %s; Ursache: %s)\n", de.Hint, de.Code, doctor.RedactText(causeOf(de)))
	log.Warn("scanFailed", "subsystem", "cli", "code", de.Code, "error", err.Error())
	if errors.Is(err, context.Canceled) {
		return context.Canceled // exit 130, as for any interrupted command
	}
	return errSilent
}

// causeOf is the technical cause under a device error, without repeating its code.
func causeOf(de *devices.Error) string {
	if de.Err == nil {
		return de.Code
	}
	return de.Err.Error()
}
