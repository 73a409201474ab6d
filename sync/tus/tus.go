// Package tus is a client of the tus 1.0 resumable upload protocol (core, creation and
// termination; https://tus.io/protocols/resumable-upload).
//
// The client never trusts what it sent: a resume starts from the offset a HEAD request
// reports, and the rest of the file goes in one PATCH streamed from the file at that offset
// (small chunks cost throughput on a lossy link). Every request runs under a context; requests
// without a body also get the client's own deadline.
package tus

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Version is the protocol version this client speaks.
const Version = "1.0.0"

var (
	// ErrNotFound means the server does not know the upload (404, 410): create a new one.
	ErrNotFound = errors.New("tus: upload not found")
	// ErrOffsetMismatch means the server's offset is not where the PATCH started (409): HEAD
	// again and resume from the offset it reports.
	ErrOffsetMismatch = errors.New("tus: offset mismatch")
	// ErrInterrupted means the server stopped this PATCH for another request on the same
	// upload (tusd: 400 ERR_UPLOAD_INTERRUPTED; 423 Locked elsewhere). A PATCH the client gave
	// up on can still be landing on the server, so this is expected after a cut: HEAD again and
	// resume from the offset it reports.
	ErrInterrupted = errors.New("tus: upload interrupted by another request")
	// ErrProtocol means the server's answer does not follow tus 1.0.
	ErrProtocol = errors.New("tus: protocol violation")
)

// StatusError is an unexpected HTTP status. Body holds the start of the answer (at most
// 4 KiB) for callers that read an error code from it.
type StatusError struct {
	Method string
	Status int
	Body   []byte
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("tus: %s answered %d", e.Method, e.Status)
}

// Client talks to one tus endpoint.
type Client struct {
	// HTTP sends the requests; default http.DefaultClient. It must not have a Timeout that
	// would cut a long PATCH: PATCH runs until ctx ends.
	HTTP *http.Client
	// Timeout bounds each request without a body (POST, HEAD, DELETE); default 15 s.
	Timeout time.Duration
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) short(ctx context.Context) (context.Context, context.CancelFunc) {
	d := c.Timeout
	if d <= 0 {
		d = 15 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

func (c *Client) do(ctx context.Context, method, u string, body io.Reader, length int64, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("tus: %s: %w", method, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Tus-Resumable", Version)
	if body != nil {
		req.ContentLength = length
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("tus: %s: %w", method, err)
	}
	return resp, nil
}

func statusError(method string, resp *http.Response) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return &StatusError{Method: method, Status: resp.StatusCode, Body: b}
}

// drain reads a little of the body so the connection can be reused, then closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
}

// Create asks endpoint for a new upload of size bytes and returns the upload's absolute URL.
// The caller stores it before sending the first byte.
func (c *Client) Create(ctx context.Context, endpoint string, size int64, meta map[string]string) (string, error) {
	ctx, cancel := c.short(ctx)
	defer cancel()
	h := http.Header{}
	h.Set("Upload-Length", strconv.FormatInt(size, 10))
	if len(meta) > 0 {
		h.Set("Upload-Metadata", EncodeMetadata(meta))
	}
	resp, err := c.do(ctx, http.MethodPost, endpoint, http.NoBody, 0, h)
	if err != nil {
		return "", err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return "", statusError(http.MethodPost, resp)
	}
	return ParseLocation(endpoint, resp.Header.Get("Location"))
}

// Answer is what the server said to a request that carried data: the offset it confirms and,
// when that request completed the upload, whatever the server added to its answer (tusd's
// pre-finish response: a header and at most 64 KiB of body), for a caller that expects the
// server to act on a complete upload at once.
type Answer struct {
	Offset int64
	Header http.Header
	Body   []byte
}

// maxAnswerBody bounds the body read from a data request's answer.
const maxAnswerBody = 64 << 10

func readAnswer(resp *http.Response) (Answer, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBody))
	if err != nil {
		return Answer{}, fmt.Errorf("tus: %s answer: %w", resp.Request.Method, err)
	}
	return Answer{Header: resp.Header, Body: b}, nil
}

// CreateWithUpload creates an upload and sends src[0:size] in the same request (the
// creation-with-upload extension), saving a round trip. It returns the upload's URL and the
// server's answer with the offset it confirms. The caller must know the URL before the first byte (for
// instance because the server names uploads by a key the client chose and stored) so that a
// cut request can be resumed with Offset and Patch. progress works as for Patch.
func (c *Client) CreateWithUpload(ctx context.Context, endpoint string, src io.ReaderAt, size int64, meta map[string]string, progress func(sent int64)) (string, Answer, error) {
	h := http.Header{}
	h.Set("Upload-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Type", "application/offset+octet-stream")
	if len(meta) > 0 {
		h.Set("Upload-Metadata", EncodeMetadata(meta))
	}
	body := &progressReader{r: io.NewSectionReader(src, 0, size), fn: progress}
	resp, err := c.do(ctx, http.MethodPost, endpoint, body, size, h)
	if err != nil {
		return "", Answer{}, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return "", Answer{}, statusError(http.MethodPost, resp)
	}
	u, err := ParseLocation(endpoint, resp.Header.Get("Location"))
	if err != nil {
		return "", Answer{}, err
	}
	a, err := readAnswer(resp)
	if err != nil {
		return "", Answer{}, err
	}
	if v := resp.Header.Get("Upload-Offset"); v != "" {
		if a.Offset, err = ParseOffset(v); err != nil {
			return "", Answer{}, err
		}
	}
	if a.Offset > size {
		return "", Answer{}, fmt.Errorf("%w: creation confirmed offset %d of %d", ErrProtocol, a.Offset, size)
	}
	return u, a, nil
}

// Offset asks the server how many bytes of the upload it holds (HEAD) and the upload's
// length (-1 if the server does not say).
func (c *Client) Offset(ctx context.Context, uploadURL string) (offset, length int64, err error) {
	ctx, cancel := c.short(ctx)
	defer cancel()
	resp, err := c.do(ctx, http.MethodHead, uploadURL, nil, 0, nil)
	if err != nil {
		return 0, 0, err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent:
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden:
		return 0, 0, ErrNotFound
	default:
		return 0, 0, statusError(http.MethodHead, resp)
	}
	return ParseHead(resp.Header)
}

// Patch sends src[offset:size] in one PATCH and returns the server's answer with the offset
// it confirms.
// progress, if set, is called with the number of bytes handed to the connection so far in
// this request, whenever that grows; a caller that sees no growth for a while cancels ctx.
func (c *Client) Patch(ctx context.Context, uploadURL string, src io.ReaderAt, offset, size int64, progress func(sent int64)) (Answer, error) {
	if offset < 0 || offset > size {
		return Answer{}, fmt.Errorf("tus: patch from %d of %d", offset, size)
	}
	h := http.Header{}
	h.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	h.Set("Content-Type", "application/offset+octet-stream")
	body := &progressReader{r: io.NewSectionReader(src, offset, size-offset), fn: progress}
	resp, err := c.do(ctx, http.MethodPatch, uploadURL, body, size-offset, h)
	if err != nil {
		return Answer{}, err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK:
	case http.StatusConflict:
		return Answer{}, ErrOffsetMismatch
	case http.StatusLocked:
		return Answer{}, ErrInterrupted
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden:
		return Answer{}, ErrNotFound
	default:
		se := statusError(http.MethodPatch, resp)
		if se.Status == http.StatusBadRequest && bytes.HasPrefix(se.Body, []byte("ERR_UPLOAD_INTERRUPTED")) {
			return Answer{}, ErrInterrupted
		}
		return Answer{}, se
	}
	got, err := ParseOffset(resp.Header.Get("Upload-Offset"))
	if err != nil {
		return Answer{}, err
	}
	if got < offset || got > size {
		return Answer{}, fmt.Errorf("%w: PATCH from %d confirmed offset %d of %d", ErrProtocol, offset, got, size)
	}
	a, err := readAnswer(resp)
	if err != nil {
		return Answer{}, err
	}
	a.Offset = got
	return a, nil
}

// Terminate deletes the upload on the server. An upload the server no longer knows counts as
// terminated.
func (c *Client) Terminate(ctx context.Context, uploadURL string) error {
	ctx, cancel := c.short(ctx)
	defer cancel()
	resp, err := c.do(ctx, http.MethodDelete, uploadURL, nil, 0, nil)
	if err != nil {
		return err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound, http.StatusGone:
		return nil
	}
	return statusError(http.MethodDelete, resp)
}

type progressReader struct {
	r    io.Reader
	fn   func(int64)
	sent int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.sent += int64(n)
		if p.fn != nil {
			p.fn(p.sent)
		}
	}
	return n, err
}

// ParseHead reads Upload-Offset and Upload-Length of a HEAD answer. The offset must be there
// and must not exceed the length; a missing length (deferred) is returned as -1.
func ParseHead(h http.Header) (offset, length int64, err error) {
	if v := h.Get("Tus-Resumable"); v != Version {
		return 0, 0, fmt.Errorf("%w: Tus-Resumable %q", ErrProtocol, v)
	}
	offset, err = ParseOffset(h.Get("Upload-Offset"))
	if err != nil {
		return 0, 0, err
	}
	length = -1
	if v := h.Get("Upload-Length"); v != "" {
		length, err = parseInt(v)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: Upload-Length %q", ErrProtocol, v)
		}
		if offset > length {
			return 0, 0, fmt.Errorf("%w: offset %d beyond length %d", ErrProtocol, offset, length)
		}
	}
	return offset, length, nil
}

// ParseOffset parses an Upload-Offset value: a non-negative decimal integer.
func ParseOffset(v string) (int64, error) {
	n, err := parseInt(v)
	if err != nil {
		return 0, fmt.Errorf("%w: Upload-Offset %q", ErrProtocol, v)
	}
	return n, nil
}

func parseInt(v string) (int64, error) {
	if v == "" || len(v) > 19 || strings.TrimLeft(v, "0123456789") != "" {
		return 0, errors.New("not a non-negative integer")
	}
	return strconv.ParseInt(v, 10, 64)
}

// ParseLocation resolves a creation answer's Location against the endpoint. Only URLs on the
// endpoint's host and with its scheme are accepted: a server must not send the kit elsewhere,
// nor from https down to http, where the packet would travel in clear.
func ParseLocation(endpoint, loc string) (string, error) {
	if loc == "" {
		return "", fmt.Errorf("%w: no Location", ErrProtocol)
	}
	base, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("tus: endpoint: %w", err)
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("%w: Location %q", ErrProtocol, loc)
	}
	u := base.ResolveReference(ref)
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host != base.Host || u.User != nil {
		return "", fmt.Errorf("%w: Location leaves the endpoint", ErrProtocol)
	}
	if u.Scheme != base.Scheme {
		return "", fmt.Errorf("%w: Location changes the scheme from %s to %s", ErrProtocol, base.Scheme, u.Scheme)
	}
	return u.String(), nil
}

// EncodeMetadata encodes Upload-Metadata: key base64(value) pairs, comma separated, sorted.
func EncodeMetadata(meta map[string]string) string {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(meta[k])))
	}
	return strings.Join(parts, ",")
}
