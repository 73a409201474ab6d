package main

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"koffer/devices"
	"koffer/devices/fingerprint"
	"koffer/devices/fingerprint/usbreader"
	"koffer/devices/sim"
	"koffer/devices/usb"
)

// fingerReader is an open reader as the command uses it.
type fingerReader interface {
	fingerprint.Reader
	Close() error
}

type fingerCaptureOptions struct {
	f       *factory
	ctx     context.Context
	out     string
	reader  string
	timeout time.Duration
	sim     bool

	// open opens a USB reader (zero id: the first one found); tests replace it.
	open func(ctx context.Context, id usb.ID) (fingerReader, string, error)
	// scorer rates the capture; nil uses NFIQ 2 where installed, else the estimate.
	scorer fingerprint.Scorer
}

func newFingerCmd(f *factory, runF func(*fingerCaptureOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "finger",
		Short: "Fingerprint reader checks for technicians",
		Args:  cobra.NoArgs,
	}
	opts := &fingerCaptureOptions{f: f}
	capture := &cobra.Command{
		Use:   "capture --out FILE.png [--reader VID:PID]",
		Short: "Capture one finger image from a reader and save it as PNG",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.ctx = c.Context()
			if runF != nil {
				return runF(opts)
			}
			return fingerCaptureRun(opts)
		},
	}
	capture.Flags().StringVar(&opts.out, "out", "", "PNG file to write (written only for a complete capture)")
	capture.Flags().StringVar(&opts.reader, "reader", "", "reader to use as VID:PID (default: the first supported reader)")
	capture.Flags().DurationVar(&opts.timeout, "timeout", 90*time.Second, "give up after this long")
	capture.Flags().BoolVar(&opts.sim, "training", false, "use the simulated reader of training mode")
	cmd.AddCommand(capture)
	return cmd
}

func fingerCaptureRun(opts *fingerCaptureOptions) error {
	if opts.out == "" {
		return &flagError{errors.New("--out FILE.png is required")}
	}
	var id usb.ID
	if opts.reader != "" {
		if opts.sim {
			return &flagError{errors.New("--reader and --training exclude each other")}
		}
		var err error
		if id, err = usb.ParseID(opts.reader); err != nil {
			return &flagError{err}
		}
	}
	ctx := opts.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()

	var (
		r    fingerReader
		name string
		err  error
	)
	switch {
	case opts.sim:
		r, name = simFingerReader{sim.NewReader(sim.ReaderOptions{Seed: uint64(time.Now().UnixNano())})}, "simulated reader"
	case opts.open != nil:
		r, name, err = opts.open(ctx, id)
	default:
		r, name, err = openUSBFingerReader(ctx, id)
	}
	if err != nil {
		return fingerFail(opts.f, err)
	}
	defer r.Close()
	fmt.Fprintf(opts.f.ErrOut, "%s: bitte Finger auflegen\n", name)
	img, err := r.Capture(ctx)
	if err != nil {
		return fingerFail(opts.f, err)
	}
	scorer := opts.scorer
	if scorer == nil {
		scorer = fingerprint.Estimate{}
		if n, ok := fingerprint.FindNFIQ2(); ok {
			scorer = n
		}
	}
	score, err := scorer.Score(ctx, img)
	if err != nil {
		return fmt.Errorf("score capture: %w", err)
	}
	if err := writePNGAtomic(opts.out, img); err != nil {
		return err
	}
	b := img.Gray.Rect
	fmt.Fprintf(opts.f.Out, "captured %dx%d px at %d ppi from %s to %s\nquality %s\n",
		b.Dx(), b.Dy(), img.PPI, name, opts.out, score)
	return nil
}

func openUSBFingerReader(ctx context.Context, id usb.ID) (fingerReader, string, error) {
	r, err := usbreader.Open(ctx, usbreader.Options{ID: id})
	if err != nil {
		return nil, "", err
	}
	return r, r.Model.Name + " (" + r.Model.ID.String() + ")", nil
}

type simFingerReader struct{ *sim.Reader }

func (simFingerReader) Close() error { return nil }

// fingerFail prints the technician's code and the caseworker's German hint of a device error.
func fingerFail(f *factory, err error) error {
	var de *devices.Error
	if errors.As(err, &de) {
		fmt.Fprintf(f.ErrOut, "koffer: %s: %v\n%s\n", de.Code, de.Err, de.Hint)
		return errSilent
	}
	return err
}

// writePNGAtomic writes the image to a temporary file beside path and renames it into place,
// so a failed write never leaves a partial image. Biometric data: readable by the owner only.
func writePNGAtomic(path string, img *fingerprint.Image) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".finger-*.png")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := png.Encode(tmp, img.Gray); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
