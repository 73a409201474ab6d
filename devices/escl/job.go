package escl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Job is a started scan job.
type Job struct {
	c        *Client
	url      *url.URL
	Settings Settings // what the device accepted
	pages    int
	done     bool
}

// Path is the job's path on the device.
func (j *Job) Path() string { return j.url.Path }

// Pages is how many pages NextPage has returned.
func (j *Job) Pages() int { return j.pages }

// Page is one scanned page as the device sends it. Body must be closed.
type Page struct {
	Body        io.ReadCloser
	ContentType string
}

// NextPage fetches the next page. It returns io.EOF when the device has no more pages and the
// job ended well; a job that ended in a jam or abort returns a *devices.Error instead, so a
// partial document is never taken for a complete one.
func (j *Job) NextPage(ctx context.Context) (*Page, error) {
	if j.done {
		return nil, io.EOF
	}
	c := j.c
	next := j.url.JoinPath("NextDocument")
	early := 0 // 404/410 retries before the first page
	for {
		if d := c.quirks.NextDocumentDelay.Duration; d > 0 {
			if err := sleep(ctx, d); err != nil {
				return nil, c.transportError(ctx, "next document", err)
			}
		}
		resp, err := c.do(ctx, http.MethodGet, next, nil, c.opts.PageTimeout, c.opts.PageRetries)
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			j.pages++
			return &Page{Body: &pageBody{ReadCloser: resp.Body, c: c, ctx: ctx}, ContentType: resp.Header.Get("Content-Type")}, nil
		case http.StatusNotFound, http.StatusGone:
			drain(resp)
			if j.pages == 0 && early < c.opts.Retries && j.retryEarly(ctx, early) {
				early++
				c.log.Debug("nextDocumentNotReady", "attempt", early)
				if err := sleep(ctx, c.opts.RetryDelay); err != nil {
					return nil, c.transportError(ctx, "next document", err)
				}
				continue
			}
			return nil, j.finish(ctx)
		default:
			drain(resp)
			return nil, c.statusError(ctx, fmt.Errorf("next document: http %d", resp.StatusCode), CodeJobFailed)
		}
	}
}

// retryEarly decides whether a 404/410 before the first page means "not ready yet": the
// model's quirk says so, or the device's status shows the job still pending or processing.
func (j *Job) retryEarly(ctx context.Context, early int) bool {
	if early < j.c.quirks.RetryNotFound {
		return true
	}
	st, err := j.c.Status(ctx)
	if err != nil {
		return false
	}
	if adfCode(st.ADFState) != "" && st.ADFState != ADFEmpty {
		return false
	}
	if ji := st.Job(j.url.Path); ji != nil {
		return ji.State == "Pending" || ji.State == "Processing"
	}
	return false
}

// finish is reached at the device's "no more documents": it checks the status to tell a
// finished job from one that stopped in a jam, and an empty feeder from a finished job.
func (j *Job) finish(ctx context.Context) error {
	j.done = true
	st, err := j.c.Status(ctx)
	if err != nil {
		if j.pages > 0 {
			// The pages are complete as far as the device told us; a status that cannot be
			// read now is no reason to throw them away.
			j.c.log.Warn("statusAfterJobUnreadable", "error", err.Error())
			return io.EOF
		}
		return err
	}
	ji := st.Job(j.url.Path)
	if ji != nil && (ji.State == "Aborted" || ji.State == "Canceled") {
		code := adfCode(st.ADFState)
		if code == "" || (code == CodeADFEmpty && j.pages > 0) {
			code = CodeJobFailed
		}
		return newError(code, fmt.Errorf("job %s after %d pages (reasons %v)", ji.State, j.pages, ji.Reasons))
	}
	if code := adfCode(st.ADFState); code != "" && code != CodeADFEmpty && j.Settings.Source == Feeder {
		return newError(code, fmt.Errorf("adf state %s after %d pages", st.ADFState, j.pages))
	}
	if j.pages == 0 {
		if j.Settings.Source == Feeder && st.ADFState == ADFEmpty {
			return newError(CodeADFEmpty, errors.New("no page: adf empty"))
		}
		return newError(CodeNoPages, errors.New("job ended without a page"))
	}
	// A job the device calls complete must have delivered every image it says it made: a
	// page lost between the device and us is not a complete document.
	if ji != nil && ji.State == "Completed" && ji.ImagesCompleted > j.pages {
		return newError(CodeMissingPage, fmt.Errorf("job completed with %d images, %d received", ji.ImagesCompleted, j.pages))
	}
	return io.EOF
}

// Cancel deletes the job on the device. It uses its own deadline so that it still runs when
// ctx has been canceled (the usual reason to cancel).
func (j *Job) Cancel(ctx context.Context) error {
	j.done = true
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.c.opts.RequestTimeout)
	defer cancel()
	resp, err := j.c.do(cctx, http.MethodDelete, j.url, nil, j.c.opts.RequestTimeout, 2)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusGone {
		return newError(CodeBadResponse, fmt.Errorf("cancel job: http %d", resp.StatusCode))
	}
	j.c.log.Info("scanJobCanceled", "job", j.url.Path, "pages", j.pages)
	return nil
}

// Scan runs a whole job: it starts it with s (falling back on 409), hands each page body to
// page as it arrives, and returns the number of pages. Any failure (including one returned by
// page) cancels the job on the device.
func (c *Client) Scan(ctx context.Context, caps *Capabilities, s Settings, page func(*Page) error) (int, error) {
	job, err := c.StartJob(ctx, caps, s)
	if err != nil {
		return 0, err
	}
	for {
		p, err := job.NextPage(ctx)
		if errors.Is(err, io.EOF) {
			c.log.Info("scanJobDone", "job", job.Path(), "pages", job.pages)
			return job.pages, nil
		}
		if err == nil {
			err = page(p)
			_ = p.Body.Close()
		}
		if err != nil {
			if cerr := job.Cancel(ctx); cerr != nil {
				c.log.Warn("scanJobCancelFailed", "job", job.Path(), "error", cerr.Error())
			}
			return job.pages, err
		}
	}
}

// pageBody turns a failure while a page streams in (cable pulled, deadline) into a device error.
type pageBody struct {
	io.ReadCloser
	c   *Client
	ctx context.Context
}

func (b *pageBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		if b.ctx.Err() != nil {
			return n, b.c.transportError(b.ctx, "read page", err)
		}
		return n, b.c.bodyError("read page", err)
	}
	return n, err
}
