package escl

import (
	"bytes"
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

// Options tune a Client. The zero value talks over http.DefaultTransport with the generic
// retry budget and the model's quirks taken from its capabilities.
type Options struct {
	// Transport carries the requests: TCP, or IPP-over-USB for a USB scanner.
	Transport http.RoundTripper
	// Logger receives device events (no personal data: no images, no names).
	Logger *slog.Logger
	// RequestTimeout bounds each request including its body (default 60 s).
	RequestTimeout time.Duration
	// Backoff is the first wait after a 503 or an early 404; it doubles up to 8x (default 250 ms).
	Backoff time.Duration
	// Quirks override the per-model table when set.
	Quirks *Quirks
}

// Client talks eSCL to one scanner at a base URL such as "http://host/eSCL". It runs one job
// at a time: use it from one goroutine.
type Client struct {
	base   *url.URL
	hc     *http.Client
	log    *slog.Logger
	opts   Options
	quirks *Quirks
}

// New returns a client for the scanner whose eSCL root is baseURL.
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("escl: bad base url %q", baseURL)
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 60 * time.Second
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 250 * time.Millisecond
	}
	return &Client{
		base: u,
		hc: &http.Client{Transport: opts.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		log:    opts.Logger.With("subsystem", "escl", "scanner", u.Host),
		opts:   opts,
		quirks: opts.Quirks,
	}, nil
}

// pathOf returns the path of p on the scanner, dropping any scheme and host the device put in
// it (some devices send a broken one). A relative path is taken from the eSCL root.
func (c *Client) pathOf(p string) (string, error) {
	ref, err := url.Parse(strings.TrimSpace(p))
	if err != nil {
		return "", fmt.Errorf("bad path %q: %w", p, err)
	}
	path := ref.EscapedPath()
	if path == "" {
		return "", fmt.Errorf("empty path %q", p)
	}
	if !strings.HasPrefix(path, "/") {
		path = c.base.EscapedPath() + "/" + path
	}
	return path, nil
}

// resolve makes an absolute URL on the scanner's own scheme and host from a path (see pathOf).
func (c *Client) resolve(p string) (string, error) {
	path, err := c.pathOf(p)
	if err != nil {
		return "", err
	}
	u := *c.base
	u.RawPath, u.Path, u.RawQuery, u.Fragment = "", "", "", ""
	return u.String() + path, nil
}

// response is an answer whose body keeps the request's deadline alive until closed.
type response struct {
	*http.Response
	cancel context.CancelFunc
}

func (r *response) Read(p []byte) (int, error) { return r.Body.Read(p) }

func (r *response) Close() error {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	err := r.Body.Close()
	r.cancel()
	return err
}

// do sends one request with its own deadline and retries 503 within the bounded budget.
func (c *Client) do(ctx context.Context, method, target string, body []byte) (*response, error) {
	q := c.quirksOrDefault()
	wait := c.opts.Backoff
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
		var rb io.Reader
		if body != nil {
			rb = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(rctx, method, target, rb)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("new request: %w", err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "text/xml")
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s %s: %w", method, req.URL.Path, ctx.Err())
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, failf(CodeTimeout, "%s %s: %w", method, req.URL.Path, err)
			}
			return nil, failf(CodeUnreachable, "%s %s: %w", method, req.URL.Path, err)
		}
		r := &response{Response: resp, cancel: cancel}
		if resp.StatusCode != http.StatusServiceUnavailable {
			return r, nil
		}
		r.Close()
		if attempt >= q.BusyRetries {
			return nil, failf(CodeBusy, "%s %s: still busy after %d retries", method, req.URL.Path, attempt)
		}
		c.log.Debug("scanner busy, retrying", "path", req.URL.Path, "attempt", attempt+1)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(wait*2, c.opts.Backoff*8)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) quirksOrDefault() Quirks {
	if c.quirks != nil {
		return *c.quirks
	}
	return QuirksFor("")
}

// Capabilities reads and decodes ScannerCapabilities; the model's quirks follow from it.
func (c *Client) Capabilities(ctx context.Context) (*Capabilities, error) {
	var caps *Capabilities
	err := c.getXML(ctx, "ScannerCapabilities", func(r io.Reader) (err error) {
		caps, err = ParseCapabilities(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if c.quirks == nil {
		q := QuirksFor(caps.MakeAndModel)
		c.quirks = &q
	}
	return caps, nil
}

// Status reads and decodes ScannerStatus.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st *Status
	err := c.getXML(ctx, "ScannerStatus", func(r io.Reader) (err error) {
		st, err = ParseStatus(r)
		return err
	})
	return st, err
}

func (c *Client) getXML(ctx context.Context, name string, decode func(io.Reader) error) error {
	target, err := c.resolve(name)
	if err != nil {
		return fail(CodeBadAnswer, err)
	}
	resp, err := c.do(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	defer resp.Close()
	if resp.StatusCode != http.StatusOK {
		return failf(CodeBadAnswer, "get %s: http %d", name, resp.StatusCode)
	}
	if err := decode(resp.Body); err != nil {
		return fail(CodeBadAnswer, err)
	}
	return nil
}

// Settings of one scan job. Sizes in 300ths of an inch, as eSCL counts.
type Settings struct {
	Source     Source
	ColorMode  ColorMode
	Resolution int
	// Width and Height of the scan region; zero means A4 (2480 x 3508).
	Width, Height int
	// Format is the MIME type asked for; only image/jpeg is assembled into PDF.
	Format string
}

// A4 in 300ths of an inch (210 x 297 mm).
const (
	A4Width  = 2480
	A4Height = 3508
)

// DocumentSettings is the default profile for documents: 300 dpi grey A4 from src.
func DocumentSettings(src Source) Settings {
	return Settings{Source: src, ColorMode: Grayscale8, Resolution: 300, Width: A4Width, Height: A4Height, Format: "image/jpeg"}
}

// PhotoSettings is the profile for photos: 300 dpi colour A4 from src.
func PhotoSettings(src Source) Settings {
	s := DocumentSettings(src)
	s.ColorMode = RGB24
	return s
}

func (s Settings) withDefaults() Settings {
	if s.Source == "" {
		s.Source = Flatbed
	}
	if s.ColorMode == "" {
		s.ColorMode = Grayscale8
	}
	if s.Resolution <= 0 {
		s.Resolution = 300
	}
	if s.Width <= 0 {
		s.Width = A4Width
	}
	if s.Height <= 0 {
		s.Height = A4Height
	}
	if s.Format == "" {
		s.Format = "image/jpeg"
	}
	return s
}

// fit clamps the region to the source's maximum size.
func (s Settings) fit(ic *InputCaps) Settings {
	if ic == nil {
		return s
	}
	if ic.MaxWidth > 0 && s.Width > ic.MaxWidth {
		s.Width = ic.MaxWidth
	}
	if ic.MaxHeight > 0 && s.Height > ic.MaxHeight {
		s.Height = ic.MaxHeight
	}
	return s
}

// nearest returns s adjusted to what ic supports.
func (s Settings) nearest(ic *InputCaps) Settings {
	if ic == nil {
		return s
	}
	s.Resolution = ic.NearestResolution(s.Resolution)
	s.ColorMode = ic.NearestMode(s.ColorMode)
	return s.fit(ic)
}

// xml renders the ScanSettings document.
func (s Settings) xml() []byte {
	src, duplex := string(s.Source), false
	if s.Source == ADFDuplex {
		src, duplex = string(ADF), true
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<scan:ScanSettings xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm">`)
	b.WriteString(`<pwg:Version>2.0</pwg:Version><scan:Intent>Document</scan:Intent>`)
	fmt.Fprintf(&b, `<pwg:ScanRegions><pwg:ScanRegion><pwg:ContentRegionUnits>escl:ThreeHundredthsOfInches</pwg:ContentRegionUnits>`+
		`<pwg:XOffset>0</pwg:XOffset><pwg:YOffset>0</pwg:YOffset><pwg:Width>%d</pwg:Width><pwg:Height>%d</pwg:Height></pwg:ScanRegion></pwg:ScanRegions>`, s.Width, s.Height)
	fmt.Fprintf(&b, `<pwg:InputSource>%s</pwg:InputSource>`, src)
	if duplex {
		b.WriteString(`<scan:Duplex>true</scan:Duplex>`)
	}
	fmt.Fprintf(&b, `<scan:ColorMode>%s</scan:ColorMode><scan:XResolution>%d</scan:XResolution><scan:YResolution>%d</scan:YResolution>`,
		s.ColorMode, s.Resolution, s.Resolution)
	fmt.Fprintf(&b, `<pwg:DocumentFormat>%s</pwg:DocumentFormat><scan:DocumentFormatExt>%s</scan:DocumentFormatExt>`, s.Format, s.Format)
	b.WriteString(`</scan:ScanSettings>`)
	return b.Bytes()
}
