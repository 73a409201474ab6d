// Package ipp drives printers over IPP (github.com/OpenPrinting/goipp) on any
// http.RoundTripper: a network printer over TCP or a USB printer through IPP-over-USB. It asks
// the printer what it takes, picks PDF or else PWG raster, sends the job, retries while the
// printer is busy, follows the job to its end and turns printer trouble into *devices.Error.
package ipp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/OpenPrinting/goipp"

	"koffer/devices"
)

// Options configure a Client. Zero values mean the defaults noted on each field.
type Options struct {
	// Transport carries the HTTP exchanges: nil means http.DefaultTransport. For a USB printer
	// pass the IPP-over-USB transport of package usb.
	Transport http.RoundTripper
	Logger    *slog.Logger
	// RequestTimeout bounds one IPP exchange without a document (default 15s).
	RequestTimeout time.Duration
	// SendTimeout bounds one Print-Job exchange including the document (default 2m).
	SendTimeout time.Duration
	// JobTimeout bounds waiting for a sent job to end (default 5m).
	JobTimeout time.Duration
	// PollInterval is the pause between Get-Job-Attributes while waiting (default 1s).
	PollInterval time.Duration
	// BusyAttempts is how often Print-Job is tried while the printer answers busy (default 20).
	BusyAttempts int
	// BusyDelay is the first pause after a busy answer; it doubles up to BusyMaxDelay
	// (defaults 500ms and 5s).
	BusyDelay    time.Duration
	BusyMaxDelay time.Duration
	// UserName is sent as requesting-user-name (default "koffer"). Never a person's name.
	UserName string
}

func (o *Options) fill() {
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.RequestTimeout, 15*time.Second)
	def(&o.SendTimeout, 2*time.Minute)
	def(&o.JobTimeout, 5*time.Minute)
	def(&o.PollInterval, time.Second)
	def(&o.BusyDelay, 500*time.Millisecond)
	def(&o.BusyMaxDelay, 5*time.Second)
	if o.BusyAttempts <= 0 {
		o.BusyAttempts = 20
	}
	if o.UserName == "" {
		o.UserName = "koffer"
	}
}

// Client talks to one printer.
type Client struct {
	uri  string // printer-uri as sent in requests (ipp:// or ipps://)
	url  string // where requests are POSTed (http:// or https://)
	hc   *http.Client
	opts Options
	log  *slog.Logger
	id   atomic.Uint32
}

// New returns a client for the printer at uri (ipp://host[:port]/path, ipps://..., or an
// http(s):// URL of the IPP endpoint).
func New(uri string, opts Options) (*Client, error) {
	opts.fill()
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("parse printer uri: %w", err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("printer uri %q has no host", uri)
	}
	printerURI, httpURL := *u, *u
	switch u.Scheme {
	case "ipp", "ipps":
		httpURL.Scheme = map[string]string{"ipp": "http", "ipps": "https"}[u.Scheme]
		if u.Port() == "" {
			httpURL.Host = net.JoinHostPort(u.Hostname(), "631")
		}
	case "http", "https":
		printerURI.Scheme = map[string]string{"http": "ipp", "https": "ipps"}[u.Scheme]
	default:
		return nil, fmt.Errorf("printer uri %q: scheme must be ipp, ipps, http or https", uri)
	}
	if httpURL.Path == "" {
		httpURL.Path, printerURI.Path = "/ipp/print", "/ipp/print"
	}
	c := &Client{
		uri:  printerURI.String(),
		url:  httpURL.String(),
		hc:   &http.Client{Transport: opts.Transport},
		opts: opts,
		log:  opts.Logger.With("subsystem", "ipp"),
	}
	return c, nil
}

// URI is the printer-uri the client sends.
func (c *Client) URI() string { return c.uri }

func (c *Client) request(op goipp.Op) *goipp.Message {
	m := goipp.NewRequest(goipp.MakeVersion(2, 0), op, c.id.Add(1))
	m.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	m.Operation.Add(goipp.MakeAttribute("attributes-natural-language", goipp.TagLanguage, goipp.String("de-de")))
	m.Operation.Add(goipp.MakeAttribute("printer-uri", goipp.TagURI, goipp.String(c.uri)))
	m.Operation.Add(goipp.MakeAttribute("requesting-user-name", goipp.TagName, goipp.String(c.opts.UserName)))
	return m
}

// maxResponse bounds an IPP response: printer attributes of real printers are some 10 KiB.
const maxResponse = 4 << 20

// do sends req (followed by doc, if any) and decodes the answer. Transport and decoding
// failures come back as *devices.Error; the IPP status is left to the caller.
func (c *Client) do(ctx context.Context, req *goipp.Message, doc io.Reader) (*goipp.Message, error) {
	head, err := req.EncodeBytes()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", goipp.Op(req.Code), err)
	}
	var body io.Reader = bytes.NewReader(head)
	length := int64(len(head))
	if doc != nil {
		body, length = io.MultiReader(body, doc), -1
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	hreq.ContentLength = length
	hreq.Header.Set("Content-Type", goipp.ContentType)
	start := time.Now()
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse)) // drain: keep the connection usable
		resp.Body.Close()
	}()
	if resp.StatusCode == http.StatusServiceUnavailable {
		return nil, errBusy
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &devices.Error{Kind: devices.Printer, Code: "printer.http-status",
			Hint: "Der Drucker hat die Anfrage nicht verstanden. Bitte den Drucker aus- und wieder einschalten.",
			Err:  fmt.Errorf("%s: http status %d", goipp.Op(req.Code), resp.StatusCode)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, transportError(ctx, err)
	}
	var m goipp.Message
	if len(data) > maxResponse {
		err = errors.New("response too large")
	} else {
		err = m.DecodeBytes(data)
	}
	if err != nil {
		return nil, &devices.Error{Kind: devices.Printer, Code: "printer.bad-response",
			Hint: "Der Drucker antwortet fehlerhaft. Bitte den Drucker aus- und wieder einschalten.",
			Err:  fmt.Errorf("decode %s response: %w", goipp.Op(req.Code), err)}
	}
	c.log.Debug("ipp exchange", "op", goipp.Op(req.Code).String(), "status", goipp.Status(m.Code).String(),
		"elapsed", time.Since(start))
	return &m, nil
}

var errBusy = &devices.Error{Kind: devices.Printer, Code: "printer.busy",
	Hint: "Der Drucker ist beschäftigt. Bitte kurz warten und erneut versuchen.",
	Err:  errors.New("printer busy")}

func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return &devices.Error{Kind: devices.Printer, Code: "printer.timeout",
			Hint: "Der Drucker antwortet nicht. Bitte prüfen, ob er eingeschaltet und verbunden ist.", Err: err}
	}
	return &devices.Error{Kind: devices.Printer, Code: "printer.unreachable",
		Hint: "Der Drucker ist nicht erreichbar. Bitte prüfen, ob er eingeschaltet und verbunden ist.", Err: err}
}

// statusError turns a non-successful IPP status into a *devices.Error.
func statusError(op goipp.Op, m *goipp.Message) error {
	st := goipp.Status(m.Code)
	if st < 0x0100 {
		return nil
	}
	msg := ""
	for _, a := range m.Operation {
		if a.Name == "status-message" {
			msg = firstString(a.Values)
		}
	}
	cause := fmt.Errorf("%s: %s %q", op, st, msg)
	if st == goipp.StatusErrorAttributesOrValues {
		for _, a := range m.Unsupported {
			if a.Name == "document-format" {
				st = goipp.StatusErrorDocumentFormatNotSupported
			}
		}
	}
	e := &devices.Error{Kind: devices.Printer, Err: cause}
	switch st {
	case goipp.StatusErrorBusy, goipp.StatusErrorServiceUnavailable, goipp.StatusErrorTemporary, goipp.StatusErrorTooManyJobs:
		e.Code, e.Hint = errBusy.Code, errBusy.Hint
	case goipp.StatusErrorDocumentFormatNotSupported:
		e.Code = "printer.format-unsupported"
		e.Hint = "Der Drucker kann dieses Dokument nicht drucken. Bitte einen anderen Drucker verwenden."
	case goipp.StatusErrorNotAcceptingJobs, goipp.StatusErrorPrinterIsDeactivated:
		e.Code = "printer.not-accepting"
		e.Hint = "Der Drucker nimmt gerade keine Aufträge an. Bitte kurz warten und erneut versuchen."
	case goipp.StatusErrorNotFound, goipp.StatusErrorGone:
		e.Code = "printer.job-not-found"
		e.Hint = "Der Druckauftrag ist beim Drucker nicht mehr bekannt. Bitte prüfen, ob das Blatt gedruckt wurde."
	case goipp.StatusErrorDevice:
		e.Code = "printer.device-error"
		e.Hint = "Der Drucker meldet einen Gerätefehler. Bitte die Anzeige am Drucker prüfen."
	default:
		e.Code = "printer.rejected"
		e.Hint = "Der Drucker hat den Auftrag abgelehnt. Bitte erneut versuchen oder den Technik-Support anrufen."
	}
	return e
}

// IsBusy reports whether err means the printer was busy and the request may be repeated.
func IsBusy(err error) bool {
	var de *devices.Error
	return errors.As(err, &de) && de.Code == errBusy.Code
}

func (c *Client) exchange(ctx context.Context, timeout time.Duration, req *goipp.Message, doc io.Reader) (*goipp.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := c.do(ctx, req, doc)
	if err != nil {
		return nil, err
	}
	if err := statusError(goipp.Op(req.Code), m); err != nil {
		return nil, err
	}
	return m, nil
}

// describeAttrs are the attributes Describe asks for.
var describeAttrs = []string{
	"printer-description", "document-format-supported", "media-ready", "media-default",
	"marker-names", "marker-types", "marker-colors", "marker-levels", "marker-low-levels",
	"marker-high-levels", "pwg-raster-document-resolution-supported", "pwg-raster-document-type-supported",
	"printer-state", "printer-state-reasons", "printer-state-message", "printer-is-accepting-jobs",
}

// Describe asks the printer for its attributes (Get-Printer-Attributes).
func (c *Client) Describe(ctx context.Context) (*Description, error) {
	req := c.request(goipp.OpGetPrinterAttributes)
	vals := make([]goipp.Value, 0, len(describeAttrs))
	for _, a := range describeAttrs {
		vals = append(vals, goipp.String(a))
	}
	req.Operation.Add(goipp.MakeAttr("requested-attributes", goipp.TagKeyword, vals[0], vals[1:]...))
	m, err := c.exchange(ctx, c.opts.RequestTimeout, req, nil)
	if err != nil {
		return nil, err
	}
	d := DecodeDescription(m)
	// printer-state is required (RFC 8011): an answer without it describes no printer, and
	// taking it for a ready one would send jobs into the void.
	if d.State == StateUnknown {
		return nil, &devices.Error{Kind: devices.Printer, Code: "printer.bad-response",
			Hint: "Der Drucker antwortet fehlerhaft. Bitte den Drucker aus- und wieder einschalten.",
			Err:  errors.New("get-printer-attributes answer without printer-state")}
	}
	return d, nil
}

// Job is what the caller says about a print job.
type Job struct {
	Name   string // job-name: a document kind, never personal data
	Format string // document-format (MIME type)
	Copies int    // 0 means 1
}

func (c *Client) jobRequest(op goipp.Op, j Job) *goipp.Message {
	req := c.request(op)
	if j.Name != "" {
		req.Operation.Add(goipp.MakeAttribute("job-name", goipp.TagName, goipp.String(j.Name)))
	}
	if j.Format != "" {
		req.Operation.Add(goipp.MakeAttribute("document-format", goipp.TagMimeType, goipp.String(j.Format)))
	}
	if j.Copies > 1 {
		req.Job.Add(goipp.MakeAttribute("copies", goipp.TagInteger, goipp.Integer(j.Copies)))
	}
	return req
}

// Validate asks the printer whether it would take the job (Validate-Job).
func (c *Client) Validate(ctx context.Context, j Job) error {
	_, err := c.exchange(ctx, c.opts.RequestTimeout, c.jobRequest(goipp.OpValidateJob, j), nil)
	return err
}

// Sent is a job the printer accepted.
type Sent struct {
	ID       int
	Attempts int // Print-Job exchanges made, >1 when the printer was busy
}

// PrintJob sends one document (Print-Job). While the printer answers busy it waits and sends
// again, up to BusyAttempts times; open is called for every attempt and must return the same
// bytes. Any other failure is returned at once and never repeated: the printer might have
// printed.
func (c *Client) PrintJob(ctx context.Context, j Job, open func() (io.ReadCloser, error)) (Sent, error) {
	delay := c.opts.BusyDelay
	for attempt := 1; ; attempt++ {
		id, err := c.printOnce(ctx, j, open)
		if err == nil {
			return Sent{ID: id, Attempts: attempt}, nil
		}
		if !IsBusy(err) || attempt >= c.opts.BusyAttempts {
			return Sent{Attempts: attempt}, err
		}
		c.log.Info("printer busy, retrying", "attempt", attempt, "delay", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return Sent{Attempts: attempt}, err
		case <-t.C:
		}
		delay = min(2*delay, c.opts.BusyMaxDelay)
	}
}

func (c *Client) printOnce(ctx context.Context, j Job, open func() (io.ReadCloser, error)) (int, error) {
	doc, err := open()
	if err != nil {
		return 0, fmt.Errorf("open document: %w", err)
	}
	defer doc.Close()
	m, err := c.exchange(ctx, c.opts.SendTimeout, c.jobRequest(goipp.OpPrintJob, j), doc)
	if err != nil {
		return 0, err
	}
	for _, a := range m.Job {
		if a.Name == "job-id" {
			if id, ok := firstInt(a.Values); ok {
				return id, nil
			}
		}
	}
	return 0, &devices.Error{Kind: devices.Printer, Code: "printer.bad-response",
		Hint: "Der Drucker antwortet fehlerhaft. Bitte prüfen, ob das Blatt gedruckt wurde, bevor Sie erneut drucken.",
		Err:  errors.New("print-job response without job-id")}
}

// JobState is job-state (RFC 8011 5.3.7).
type JobState int

const (
	JobPending           JobState = 3
	JobPendingHeld       JobState = 4
	JobProcessing        JobState = 5
	JobProcessingStopped JobState = 6
	JobCanceled          JobState = 7
	JobAborted           JobState = 8
	JobCompleted         JobState = 9
)

// Done reports whether the job has ended (canceled, aborted or completed).
func (s JobState) Done() bool { return s >= JobCanceled }

func (s JobState) String() string {
	names := map[JobState]string{3: "pending", 4: "pending-held", 5: "processing", 6: "processing-stopped",
		7: "canceled", 8: "aborted", 9: "completed"}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("job-state(%d)", int(s))
}

// JobStatus is what Get-Job-Attributes says about a job.
type JobStatus struct {
	ID      int
	State   JobState
	Reasons []string
	Pages   int // job-impressions-completed
	Message string
	// Problem is set by Wait while the job is stopped: the printer's reason as a
	// *devices.Error (paper out, jam...), so the caseworker can fix it and the job goes on.
	Problem error
}

// JobAttributes asks for the state of a job (Get-Job-Attributes).
func (c *Client) JobAttributes(ctx context.Context, id int) (JobStatus, error) {
	req := c.request(goipp.OpGetJobAttributes)
	req.Operation.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(id)))
	req.Operation.Add(goipp.MakeAttr("requested-attributes", goipp.TagKeyword, goipp.String("job-state"),
		goipp.String("job-state-reasons"), goipp.String("job-impressions-completed"), goipp.String("job-state-message")))
	m, err := c.exchange(ctx, c.opts.RequestTimeout, req, nil)
	if err != nil {
		return JobStatus{ID: id}, err
	}
	return decodeJobStatus(id, m), nil
}

func decodeJobStatus(id int, m *goipp.Message) JobStatus {
	st := JobStatus{ID: id}
	for _, a := range m.Job {
		switch a.Name {
		case "job-state":
			if n, ok := firstInt(a.Values); ok {
				st.State = JobState(n)
			}
		case "job-state-reasons":
			st.Reasons = stringValues(a.Values)
		case "job-impressions-completed":
			st.Pages, _ = firstInt(a.Values)
		case "job-state-message":
			st.Message = firstString(a.Values)
		}
	}
	return st
}

// Cancel cancels a job (Cancel-Job).
func (c *Client) Cancel(ctx context.Context, id int) error {
	req := c.request(goipp.OpCancelJob)
	req.Operation.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(id)))
	_, err := c.exchange(ctx, c.opts.RequestTimeout, req, nil)
	return err
}

// Wait polls the job until it ends or JobTimeout passes. A completed job returns its status
// and nil; an aborted or canceled one a *devices.Error. onUpdate, if not nil, sees every
// status polled (for a progress display). Wait never cancels the job itself.
func (c *Client) Wait(ctx context.Context, id int, onUpdate func(JobStatus)) (JobStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.JobTimeout)
	defer cancel()
	for {
		st, err := c.JobAttributes(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return st, jobTimeout(id)
			}
			return st, err
		}
		if st.State == JobProcessingStopped || st.State == JobPendingHeld {
			if d, derr := c.Describe(ctx); derr == nil {
				st.Problem = d.Problem()
			}
		}
		if onUpdate != nil {
			onUpdate(st)
		}
		switch st.State {
		case JobCompleted:
			return st, nil
		case JobAborted:
			return st, &devices.Error{Kind: devices.Printer, Code: "printer.job-aborted",
				Hint: "Der Drucker hat den Auftrag abgebrochen. Bitte die Anzeige am Drucker prüfen und erneut drucken.",
				Err:  fmt.Errorf("job %d aborted: %s", id, strings.Join(st.Reasons, ","))}
		case JobCanceled:
			return st, &devices.Error{Kind: devices.Printer, Code: "printer.job-canceled",
				Hint: "Der Druckauftrag wurde abgebrochen. Bei Bedarf erneut drucken.",
				Err:  fmt.Errorf("job %d canceled: %s", id, strings.Join(st.Reasons, ","))}
		}
		t := time.NewTimer(c.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, jobTimeout(id)
		case <-t.C:
		}
	}
}

func jobTimeout(id int) error {
	return &devices.Error{Kind: devices.Printer, Code: "printer.job-timeout",
		Hint: "Der Drucker wird mit dem Auftrag nicht fertig. Bitte die Anzeige am Drucker prüfen.",
		Err:  fmt.Errorf("job %d did not end in time", id)}
}
