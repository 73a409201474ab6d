package escl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Job is a started scan job.
type Job struct {
	c        *Client
	path     string // the job's path on the device, from Location
	Settings Settings
	pages    int
	done     bool
}

// Path is the job's path on the scanner ("/eSCL/ScanJobs/42").
func (j *Job) Path() string { return j.path }

// StartJob checks the feeder, then posts ScanJobs. On 409 it falls back once to the nearest
// settings caps supports. caps may be nil (no fallback then).
func (c *Client) StartJob(ctx context.Context, caps *Capabilities, s Settings) (*Job, error) {
	s = s.withDefaults()
	var ic *InputCaps
	if caps != nil {
		if ic = caps.Source(s.Source); ic == nil {
			return nil, failf(CodeUnsupported, "scanner has no source %s", s.Source)
		}
		if len(ic.Formats) > 0 && !ic.HasFormat(s.Format) {
			return nil, failf(CodeUnsupported, "source %s has no format %s", s.Source, s.Format)
		}
		s = s.fit(ic)
	}
	if s.Source != Flatbed {
		if err := c.checkFeeder(ctx, true); err != nil {
			return nil, err
		}
	}
	target, err := c.resolve("ScanJobs")
	if err != nil {
		return nil, fail(CodeBadAnswer, err)
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.do(ctx, http.MethodPost, target, s.xml())
		if err != nil {
			return nil, err
		}
		loc := resp.Header.Get("Location")
		code := resp.StatusCode
		resp.Close()
		switch {
		case code == http.StatusCreated || (code == http.StatusOK && loc != ""):
			if loc == "" {
				return nil, failf(CodeBadAnswer, "scan job created without location")
			}
			path, err := c.pathOf(loc)
			if err != nil {
				return nil, fail(CodeBadAnswer, fmt.Errorf("job location: %w", err))
			}
			c.log.Info("scan job started", "job", path, "source", string(s.Source), "dpi", s.Resolution, "colorMode", string(s.ColorMode))
			return &Job{c: c, path: path, Settings: s}, nil
		case code == http.StatusConflict:
			// 409 is "not now" (feeder empty or jammed) or "not these settings".
			if err := c.checkFeeder(ctx, s.Source != Flatbed); err != nil {
				return nil, err
			}
			if attempt > 0 || ic == nil {
				return nil, failf(CodeUnsupported, "scan settings refused (409)")
			}
			fb := s.nearest(ic)
			if fb == s {
				return nil, failf(CodeUnsupported, "scan settings refused (409) and no nearer supported settings")
			}
			c.log.Info("scan settings refused, falling back", "dpi", fb.Resolution, "colorMode", string(fb.ColorMode))
			s = fb
		default:
			return nil, failf(CodeBadAnswer, "post scan job: http %d", code)
		}
	}
}

// checkFeeder turns an ADF problem reported by ScannerStatus into its error. A status that
// cannot be read is not an error here: the job itself will tell.
func (c *Client) checkFeeder(ctx context.Context, wantPaper bool) error {
	st, err := c.Status(ctx)
	if err != nil {
		c.log.Debug("scanner status unreadable", "err", err)
		return nil
	}
	return st.feederError(wantPaper)
}

func (st *Status) feederError(wantPaper bool) error {
	switch st.ADF {
	case ADFJam, ADFMispick:
		return failf(CodeJam, "adf state %s", st.ADF)
	case ADFHatchOpen:
		return failf(CodeCoverOpen, "adf state %s", st.ADF)
	case ADFEmpty:
		if wantPaper {
			return failf(CodeADFEmpty, "adf empty")
		}
	}
	return nil
}

// Next returns the next page's body (close it), or io.EOF itself (never wrapped) after the
// last page.
func (j *Job) Next(ctx context.Context) (io.ReadCloser, error) {
	if j.done {
		return nil, io.EOF
	}
	q := j.c.quirksOrDefault()
	target, err := j.c.resolve(j.path + "/NextDocument")
	if err != nil {
		return nil, fail(CodeBadAnswer, err)
	}
	wait := j.c.opts.Backoff
	for attempt := 0; ; attempt++ {
		if err := sleep(ctx, q.NextDocumentDelay); err != nil {
			return nil, err
		}
		resp, err := j.c.do(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			j.pages++
			return resp, nil
		case http.StatusNotFound, http.StatusGone:
			resp.Close()
			if j.pages == 0 && attempt < q.NotFoundRetries {
				// Some devices say 404/410 while the first page is not ready yet.
				j.c.log.Debug("no page yet, retrying", "job", j.path, "attempt", attempt+1)
				if err := sleep(ctx, wait); err != nil {
					return nil, err
				}
				wait = min(wait*2, j.c.opts.Backoff*8)
				continue
			}
			j.done = true
			// A feeder that stops on a jam often just ends the job: ask before calling it done.
			if j.Settings.Source != Flatbed {
				if err := j.c.checkFeeder(ctx, j.pages == 0); err != nil {
					return nil, err
				}
			}
			if j.pages == 0 {
				return nil, failf(CodeBadAnswer, "scan job ended without a page")
			}
			return nil, io.EOF
		default:
			code := resp.StatusCode
			resp.Close()
			j.done = true
			if err := j.c.checkFeeder(ctx, false); err != nil {
				return nil, err
			}
			return nil, failf(CodeBadAnswer, "next document: http %d", code)
		}
	}
}

// Cancel deletes the job on the device. It uses its own short deadline so that a job is
// cancelled even when ctx has ended.
func (j *Job) Cancel(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	target, err := j.c.resolve(j.path)
	if err != nil {
		return fail(CodeBadAnswer, err)
	}
	resp, err := j.c.do(ctx, http.MethodDelete, target, nil)
	if err != nil {
		return err
	}
	defer resp.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		return failf(CodeBadAnswer, "cancel job: http %d", resp.StatusCode)
	}
	return nil
}

// Scan runs a whole job: capabilities, start, every page handed to page in order. On any
// failure the job is cancelled on the device. It returns the number of pages. When ctx's
// deadline ends the job, the error is scanner.timeout (and matches context.DeadlineExceeded).
func (c *Client) Scan(ctx context.Context, s Settings, page func(n int, r io.Reader, s Settings) error) (int, error) {
	n, err := c.scan(ctx, s, page)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = fail(CodeTimeout, err)
	}
	return n, err
}

func (c *Client) scan(ctx context.Context, s Settings, page func(n int, r io.Reader, s Settings) error) (int, error) {
	caps, err := c.Capabilities(ctx)
	if err != nil {
		return 0, err
	}
	job, err := c.StartJob(ctx, caps, s)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		body, err := job.Next(ctx)
		// Compared directly: a transport error may wrap io.EOF (connection closed mid-job).
		if err == io.EOF { //nolint:errorlint // Next returns io.EOF itself, unwrapped

			c.log.Info("scan job finished", "job", job.path, "pages", n)
			return n, nil
		}
		if err != nil {
			job.cancelAfterError(ctx)
			return n, err
		}
		n++
		err = page(n, body, job.Settings)
		body.Close()
		if err != nil {
			job.cancelAfterError(ctx)
			return n, err
		}
	}
}

func (j *Job) cancelAfterError(ctx context.Context) {
	if err := j.Cancel(ctx); err != nil {
		j.c.log.Warn("cancel scan job failed", "job", j.path, "err", err)
	}
}
