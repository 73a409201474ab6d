package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"koffer/agent/documents"
	"koffer/devices"
	"koffer/devices/ipp"
	"koffer/devices/sim"
	"koffer/devices/usb"
)

// printer is what `koffer print` needs from a printer; *ipp.Client and *sim.Printer have it.
type printer interface {
	Print(ctx context.Context, doc ipp.Document, onUpdate func(ipp.JobStatus)) (ipp.Result, error)
}

var (
	_ printer = (*ipp.Client)(nil)
	_ printer = (*sim.Printer)(nil)
)

type printOptions struct {
	f        *factory
	Printer  string        // URI or "usb" (first IPP-over-USB printer); "sim" only via Training
	Training bool          // the training simulator: nothing else selects it
	Timeout  time.Duration // whole job, from sending to done
	Test     bool
	File     string

	// open resolves Printer; tests replace it.
	open func(uri string, jobTimeout time.Duration) (printer, func(), error)
	now  func() time.Time
}

func newPrintCmd(f *factory, runF func(*printOptions) error) *cobra.Command {
	opts := &printOptions{f: f, open: openPrinter, now: time.Now}
	cmd := &cobra.Command{
		Use:   "print (test | FILE.pdf)",
		Short: "Print a test page or a PDF file",
		Long: "Print a test page with the kit's identity, or a PDF file. The printer is --printer\n" +
			"(ipp://host:port/path, or \"usb\" for the first IPP-over-USB printer), else\n" +
			"$KOFFER_PRINTER, else \"usb\". --training prints on the simulated printer instead.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if args[0] == "test" {
				opts.Test = true
			} else {
				opts.File = args[0]
			}
			if opts.Printer == "sim" || opts.Training && opts.Printer != "" {
				return &flagError{errors.New("the simulated printer is selected by --training alone")}
			}
			if opts.Training {
				opts.Printer = "sim"
			}
			if opts.Printer == "" {
				opts.Printer = f.Getenv("KOFFER_PRINTER")
			}
			if opts.Printer == "" {
				opts.Printer = "usb"
			}
			if runF != nil {
				return runF(opts)
			}
			return printRun(c.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Printer, "printer", "", "printer URI or \"usb\" (env KOFFER_PRINTER)")
	cmd.Flags().BoolVar(&opts.Training, "training", false, "print on the simulated printer of training mode")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "give up (and cancel the job) after this long")
	return cmd
}

func printRun(ctx context.Context, opts *printOptions) error {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout+30*time.Second)
	defer cancel()
	var doc ipp.Document
	switch {
	case opts.Test:
		host, _ := os.Hostname()
		kit := opts.f.Getenv("KOFFER_KIT_ID")
		if kit == "" {
			kit = host
		}
		doc = documents.Document(documents.TestPage{KitID: kit, KitName: host, Version: version(),
			PrinterName: opts.Printer, Printed: opts.now()})
	default:
		data, err := os.ReadFile(opts.File)
		if err != nil {
			return fmt.Errorf("read %s: %w", opts.File, err)
		}
		if len(data) < 5 || string(data[:5]) != "%PDF-" {
			return &flagError{fmt.Errorf("%s is not a PDF file", opts.File)}
		}
		doc = ipp.Document{Name: "Dokument", PDF: func() (io.ReadCloser, error) { return os.Open(opts.File) }}
	}
	p, closeFn, err := opts.open(opts.Printer, opts.Timeout)
	if err != nil {
		return printFailure(opts, err)
	}
	defer closeFn()
	fmt.Fprintf(opts.f.ErrOut, "Drucke %s auf %s …\n", doc.Name, opts.Printer)
	shown := ""
	res, err := p.Print(ctx, doc, func(st ipp.JobStatus) {
		// Say once what the printer wants (paper, jam...); the job goes on when it is fixed.
		if st.Problem == nil {
			return
		}
		if h := devices.Hint(st.Problem); h != shown {
			fmt.Fprintf(opts.f.ErrOut, "Drucker wartet: %s\n", h)
			shown = h
		}
	})
	if err != nil {
		return printFailure(opts, err)
	}
	fmt.Fprintf(opts.f.Out, "Gedruckt: %s (Auftrag %d, %s, %d Versuch(e))\n", doc.Name, res.JobID, res.Format.MIME, res.Attempts)
	return nil
}

// printFailure shows the caseworker's hint and the technician's code, then fails quietly.
func printFailure(opts *printOptions, err error) error {
	var de *devices.Error
	if errors.As(err, &de) {
		fmt.Fprintf(opts.f.ErrOut, "Nicht gedruckt: %s\n(%s: %v)\n", de.Hint, de.Code, err)
		return errSilent
	}
	return err
}

// openPrinter resolves a --printer value.
func openPrinter(uri string, jobTimeout time.Duration) (printer, func(), error) {
	opts := ipp.Options{JobTimeout: jobTimeout}
	switch uri {
	case "sim":
		return sim.NewPrinter(), func() {}, nil
	case "usb":
		rt, closeAll, err := usb.OpenIPP(devices.Printer, usb.ID{}, usb.IPPOptions{})
		if err != nil {
			return nil, nil, err
		}
		opts.Transport = rt
		c, err := ipp.New(ipp.USBURI, opts)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		return c, closeAll, nil
	}
	c, err := ipp.New(uri, opts)
	if err != nil {
		return nil, nil, &flagError{err}
	}
	return c, func() {}, nil
}

// printerStatuses lists the printers `koffer devices` shows: every IPP-over-USB printer
// attached (when withUSB is set) and every configured network printer, each with its state.
// A printer that does not answer is listed with its Problem.
func printerStatuses(ctx context.Context, configured []string, withUSB bool) []ipp.Status {
	var out []ipp.Status
	if withUSB {
		out = append(out, usbPrinterStatuses(ctx)...)
	}
	for _, uri := range configured {
		out = append(out, ipp.Probe(ctx, uri, ipp.Options{RequestTimeout: 5 * time.Second}))
	}
	return out
}

func usbPrinterStatuses(ctx context.Context) []ipp.Status {
	uctx, err := usb.NewContext()
	if err != nil {
		return []ipp.Status{{URI: "usb", Problem: usb.Unavailable(devices.Printer, err)}}
	}
	defer uctx.Close()
	devs, _ := usb.OpenIPPDevices(uctx, usb.IPPOptions{TransferTimeout: 5 * time.Second})
	var out []ipp.Status
	for _, d := range devs {
		st := ipp.Probe(ctx, ipp.USBURI, ipp.Options{Transport: d.Transport, RequestTimeout: 5 * time.Second})
		st.URI = fmt.Sprintf("usb://%s:%s", d.Vendor, d.Product)
		out = append(out, st)
		_ = d.Close()
	}
	return out
}
