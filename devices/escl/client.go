package escl

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Options configure a Client; the zero value means the defaults noted on each field.
type Options struct {
	// Transport carries the HTTP exchanges: TCP (nil: http.DefaultTransport) or IPP-over-USB.
	Transport http.RoundTripper
	Logger    *slog.Logger
	// Quirks overrides the built-in per-model table; nil looks the model up in BuiltinQuirks
	// when Capabilities is read.
	Quirks *Quirks
	// RequestTimeout bounds each exchange but NextDocument (default 20s).
	RequestTimeout time.Duration
	// PageTimeout bounds one NextDocument exchange including the page body (default 3m: a
	// 600 dpi colour page on a slow device takes long).
	PageTimeout time.Duration
	// RetryDelay is the pause between retries of 503 and early 404 (default 1s).
	RetryDelay time.Duration
	// Retries is the 503 budget per request (default 10), PageRetries per NextDocument (30).
	Retries     int
	PageRetries int
}

// Client talks eSCL to one scanner. Safe for sequential use by one caller.
type Client struct {
	base   *url.URL // ends in "/"
	hc     *http.Client
	opts   Options
	quirks Quirks
	log    *slog.Logger
}

// USBRoot is the eSCL root to use with an IPP-over-USB transport: the transport ignores the
// host part.
const USBRoot = "http://localhost/eSCL"

// New returns a client for the eSCL root baseURL (e.g. "http://host:8080/eSCL").
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("escl: bad scanner url %q", baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	opts.RequestTimeout = cmp.Or(opts.RequestTimeout, 20*time.Second)
	opts.PageTimeout = cmp.Or(opts.PageTimeout, 3*time.Minute)
	opts.RetryDelay = cmp.Or(opts.RetryDelay, time.Second)
	opts.Retries = cmp.Or(opts.Retries, 10)
	opts.PageRetries = cmp.Or(opts.PageRetries, 30)
	rt := opts.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	log := cmp.Or(opts.Logger, slog.Default()).With("subsystem", "escl", "scanner", u.Host)
	c := &Client{
		base: u,
		// Redirects are not followed: eSCL answers 201 with Location, never 3xx.
		hc:   &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		opts: opts,
		log:  log,
	}
	if opts.Quirks != nil {
		c.quirks = *opts.Quirks
	}
	return c, nil
}

// Quirks returns the quirks in effect.
func (c *Client) Quirks() Quirks { return c.quirks }

// Capabilities reads and decodes ScannerCapabilities, and picks the model's quirks.
func (c *Client) Capabilities(ctx context.Context) (*Capabilities, error) {
	resp, err := c.do(ctx, http.MethodGet, c.ref("ScannerCapabilities"), nil, c.opts.RequestTimeout, c.opts.Retries)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		// Something answers HTTP at this address, but no eSCL root: a wrong URL path, not a
		// scanner to restart.
		return nil, newError(CodeNotESCL, fmt.Errorf("get capabilities: http %d at %s", resp.StatusCode, c.ref("ScannerCapabilities").Path))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, newError(CodeBadResponse, fmt.Errorf("get capabilities: http %d", resp.StatusCode))
	}
	caps, err := ParseCapabilities(resp.Body)
	if err != nil {
		return nil, c.bodyError("get capabilities", err)
	}
	if c.opts.Quirks == nil {
		c.quirks = BuiltinQuirks().Lookup(caps.MakeAndModel)
	}
	return caps, nil
}

// Status reads and decodes ScannerStatus.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	resp, err := c.do(ctx, http.MethodGet, c.ref("ScannerStatus"), nil, c.opts.RequestTimeout, c.opts.Retries)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return nil, newError(CodeBadResponse, fmt.Errorf("get status: http %d", resp.StatusCode))
	}
	st, err := ParseStatus(resp.Body)
	if err != nil {
		return nil, c.bodyError("get status", err)
	}
	return st, nil
}

// StartJob POSTs s to ScanJobs. When the device refuses the settings (409) it falls back to
// the nearest other resolution of caps, at most three times; the job's Settings say what was
// accepted. caps may be nil (no fallback).
func (c *Client) StartJob(ctx context.Context, caps *Capabilities, s Settings) (*Job, error) {
	if s.Source == Feeder && c.quirks.PrecheckADF {
		if err := c.precheckADF(ctx); err != nil {
			return nil, err
		}
	}
	tries := []Settings{s}
	if caps != nil {
		if in := caps.Source(s.Source, s.Duplex); in != nil {
			for _, r := range in.nearestResolutions(s.Resolution.X, c.quirks.MaxResolution) {
				if r != s.Resolution && len(tries) < 4 {
					alt := s
					alt.Resolution = r
					tries = append(tries, alt)
				}
			}
		}
	}
	var last int
tries:
	for _, t := range tries {
		resp, err := c.do(ctx, http.MethodPost, c.ref("ScanJobs"), t.Document(), c.opts.RequestTimeout, c.opts.Retries)
		if err != nil {
			return nil, err
		}
		drain(resp)
		last = resp.StatusCode
		switch resp.StatusCode {
		case http.StatusCreated, http.StatusOK:
			loc, err := c.jobURL(resp.Header.Get("Location"))
			if err != nil {
				return nil, newError(CodeBadResponse, err)
			}
			c.log.Info("scanJobStarted", "job", loc.Path, "dpi", t.Resolution.X, "colorMode", string(t.ColorMode), "source", string(t.Source))
			return &Job{c: c, url: loc, Settings: t}, nil
		case http.StatusConflict:
			c.log.Warn("scanSettingsRefused", "dpi", t.Resolution.X, "colorMode", string(t.ColorMode))
			continue
		}
		break tries
	}
	if last == http.StatusConflict {
		return nil, newError(CodeUnsupported, errors.New("start job: device refused every setting tried (http 409)"))
	}
	return nil, c.statusError(ctx, fmt.Errorf("start job: http %d", last), CodeBadResponse)
}

// jobURL keeps only the path of Location (devices send broken hosts: 0.0.0.0, localhost, an
// IPv6 address without brackets) and resolves it against the scanner's own address.
func (c *Client) jobURL(location string) (*url.URL, error) {
	location = strings.TrimSpace(location)
	if location == "" {
		return nil, errors.New("start job: no Location")
	}
	var path string
	if i := strings.Index(location, "://"); i >= 0 {
		rest := location[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return nil, fmt.Errorf("start job: Location without path")
		}
		path = rest[j:]
	} else {
		path = location
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	p, err := url.Parse(path)
	if err != nil || p.Path == "" || p.Host != "" {
		return nil, fmt.Errorf("start job: unusable Location path")
	}
	var u *url.URL
	if strings.HasPrefix(p.Path, "/") {
		u = c.base.ResolveReference(&url.URL{Path: p.Path})
	} else {
		u = c.ref("ScanJobs").ResolveReference(&url.URL{Path: p.Path}) // RFC 3986: relative to the POST's URL
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

func (c *Client) precheckADF(ctx context.Context) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	switch st.ADFState {
	case ADFEmpty:
		return newError(CodeADFEmpty, errors.New("adf empty before job"))
	case ADFJam, ADFMispick, ADFMultiFeed:
		return newError(CodeADFJam, fmt.Errorf("adf state %s before job", st.ADFState))
	}
	return nil
}

// statusError asks ScannerStatus why something failed and maps what it says to a code;
// fallback is used when the status says nothing specific (or cannot be read).
func (c *Client) statusError(ctx context.Context, cause error, fallback string) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.RequestTimeout)
	defer cancel()
	st, err := c.Status(sctx)
	if err != nil {
		return newError(fallback, cause)
	}
	if code := adfCode(st.ADFState); code != "" {
		return newError(code, fmt.Errorf("%w (adf state %s)", cause, st.ADFState))
	}
	if st.State == Down || st.State == Stopped {
		return newError(CodeJobFailed, fmt.Errorf("%w (scanner %s)", cause, st.State))
	}
	return newError(fallback, cause)
}

func adfCode(s ADFState) string {
	switch s {
	case ADFJam, ADFMispick, ADFMultiFeed, ADFDuplexJam, ADFPageLong, ADFInputTray:
		return CodeADFJam
	case ADFHatchOpen:
		return CodeADFOpen
	case ADFEmpty:
		return CodeADFEmpty
	}
	return ""
}

func (c *Client) ref(p string) *url.URL { return c.base.ResolveReference(&url.URL{Path: p}) }

// do runs one exchange with its own deadline, retrying 503 up to retries times. The returned
// body must be closed (drain); closing it releases the exchange's deadline.
func (c *Client) do(ctx context.Context, method string, u *url.URL, body []byte, timeout time.Duration, retries int) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(actx, method, u.String(), rd)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("escl request: %w", err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "text/xml")
		}
		if c.quirks.HostLocalhost {
			req.Host = "localhost"
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			cancel()
			return nil, c.transportError(ctx, method+" "+u.Path, err)
		}
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		if resp.StatusCode != http.StatusServiceUnavailable {
			return resp, nil
		}
		drain(resp)
		if attempt >= retries {
			return nil, newError(CodeBusy, fmt.Errorf("%s %s: http 503 after %d retries", method, u.Path, retries))
		}
		c.log.Debug("scannerBusyRetry", "path", u.Path, "attempt", attempt+1)
		if err := sleep(ctx, c.opts.RetryDelay); err != nil {
			return nil, c.transportError(ctx, method+" "+u.Path, err)
		}
	}
}

// transportError classifies a failed exchange: the caller's cancellation, a deadline, or a
// device that is gone.
func (c *Client) transportError(ctx context.Context, what string, err error) error {
	switch {
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled):
		return newError(CodeCanceled, fmt.Errorf("%s: %w", what, context.Canceled))
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return newError(CodeTimeout, fmt.Errorf("%s: %w", what, err))
	}
	return newError(CodeUnreachable, fmt.Errorf("%s: %w", what, err))
}

// bodyError classifies a failure while reading or decoding an answer.
func (c *Client) bodyError(what string, err error) error {
	if errors.Is(err, ErrMalformed) {
		return newError(CodeBadResponse, fmt.Errorf("%s: %w", what, err))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return newError(CodeTimeout, fmt.Errorf("%s: %w", what, err))
	}
	return newError(CodeUnreachable, fmt.Errorf("%s: %w", what, err))
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// drain reads what is left of a small answer (bounded) so the connection can be reused, which
// matters for IPP-over-USB where every exchange must be read to its end.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxXMLSize))
	_ = resp.Body.Close()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
