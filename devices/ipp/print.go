package ipp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"koffer/devices"
)

// MIME types koffer sends.
const (
	PDF       = "application/pdf"
	PWGRaster = "image/pwg-raster"
)

// Document is something to print in the formats it can be produced in. Open functions are
// called once per attempt and must yield the same bytes each time.
type Document struct {
	Name string // job-name: the document kind ("Meldebescheinigung"), never personal data
	// PDF opens the document as PDF; nil when there is none.
	PDF func() (io.ReadCloser, error)
	// Raster opens the document as PWG raster as spec says; nil when there is none.
	Raster func(spec RasterSpec) (io.ReadCloser, error)
}

// RasterSpec says how to rasterise for a printer.
type RasterSpec struct {
	DPI  int
	Type string // pwg-raster-document-type: "sgray_8" (0 black) or "black_8" (0 white)
}

// Format is the negotiated way to send a document.
type Format struct {
	MIME   string
	Raster RasterSpec // for PWG raster
}

// Negotiate picks how to send doc to a printer described by d: PDF where the printer lists it,
// else PWG raster (sgray_8, else black_8) at the printer's resolution closest to 300 dpi, else a *devices.Error with
// code printer.format-unsupported.
func Negotiate(d *Description, doc Document) (Format, error) {
	if doc.PDF != nil && d.Supports(PDF) {
		return Format{MIME: PDF}, nil
	}
	if doc.Raster != nil && d.Supports(PWGRaster) {
		// IPP Everywhere requires sgray_8; some printers list only black_1/black_8.
		for _, typ := range []string{"sgray_8", "black_8"} {
			if len(d.RasterTypes) == 0 && typ == "sgray_8" || slices.Contains(d.RasterTypes, typ) {
				return Format{MIME: PWGRaster, Raster: RasterSpec{DPI: pickDPI(d.RasterResolution), Type: typ}}, nil
			}
		}
	}
	have := []string{}
	if doc.PDF != nil {
		have = append(have, PDF)
	}
	if doc.Raster != nil {
		have = append(have, PWGRaster+" sgray_8/black_8")
	}
	return Format{}, &devices.Error{Kind: devices.Printer, Code: "printer.format-unsupported",
		Hint: "Dieser Drucker kann das Dokument nicht drucken. Bitte einen Drucker verwenden, der PDF oder IPP Everywhere kann.",
		Err:  fmt.Errorf("printer takes %v, document is %v", d.Formats, have)}
}

// pickDPI prefers 300 dpi, else the lowest listed at or above it, else the highest; 300 if
// the printer lists none.
func pickDPI(list []int) int {
	best := 0
	for _, r := range list {
		switch {
		case r == 300:
			return 300
		case r > 300 && (best < 300 || r < best):
			best = r
		case r < 300 && best < 300 && r > best:
			best = r
		}
	}
	if best == 0 {
		return 300
	}
	return best
}

// Result is the outcome of Print.
type Result struct {
	JobID    int
	Format   Format
	Attempts int           // Print-Job exchanges, >1 when the printer was busy
	Pages    int           // job-impressions-completed as the printer reported it
	Sent     time.Duration // from the first byte of Print-Job until the printer took the job
	Printing time.Duration // from then until the printer reported the job completed
}

// Print prints doc and waits until the printer has finished it: it checks the printer's state,
// negotiates the format, validates the job, sends it (retrying while busy) and follows it to
// its end. A job that does not end within JobTimeout is canceled, so it cannot come out
// later unasked. onUpdate, if not nil, sees every job status polled.
func (c *Client) Print(ctx context.Context, doc Document, onUpdate func(JobStatus)) (Result, error) {
	d, err := c.Describe(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := d.Problem(); err != nil {
		return Result{}, err
	}
	f, err := Negotiate(d, doc)
	if err != nil {
		return Result{}, err
	}
	job := Job{Name: doc.Name, Format: f.MIME}
	if err := c.Validate(ctx, job); err != nil && !IsBusy(err) {
		return Result{Format: f}, err
	}
	open := func() (io.ReadCloser, error) { return doc.PDF() }
	if f.MIME == PWGRaster {
		open = func() (io.ReadCloser, error) { return doc.Raster(f.Raster) }
	}
	start := time.Now()
	sent, err := c.PrintJob(ctx, job, open)
	res := Result{JobID: sent.ID, Format: f, Attempts: sent.Attempts, Sent: time.Since(start)}
	if err != nil {
		return res, err
	}
	c.log.Info("print job sent", "jobID", sent.ID, "format", f.MIME, "attempts", sent.Attempts)
	start = time.Now()
	st, err := c.Wait(ctx, sent.ID, onUpdate)
	res.Printing, res.Pages = time.Since(start), st.Pages
	if err == nil {
		c.log.Info("print job completed", "jobID", sent.ID, "pages", st.Pages)
		return res, nil
	}
	var de *devices.Error
	if errors.As(err, &de) && de.Code == "printer.job-timeout" {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.RequestTimeout)
		if cerr := c.Cancel(cctx, sent.ID); cerr != nil {
			c.log.Warn("cancel of stuck job failed", "jobID", sent.ID, "err", cerr)
		}
		cancel()
	}
	// Say why in the printer's own terms when it reports a problem (paper out, jam...).
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.RequestTimeout)
	defer cancel()
	if pd, derr := c.Describe(pctx); derr == nil {
		if perr := pd.Problem(); perr != nil {
			return res, fmt.Errorf("%w (after: %w)", perr, err)
		}
	}
	return res, err
}
