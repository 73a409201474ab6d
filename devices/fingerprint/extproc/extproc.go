// Package extproc drives a fingerprint reader through a helper program that speaks JSON
// lines over stdin/stdout. Certified readers come with vendor SDKs; a town wraps the SDK in a
// small helper and koffer runs it as a separate process, without linking the SDK.
//
// Protocol: one request per line on the helper's stdin, one response per line on its stdout.
//
//	-> {"op":"capture","timeoutMs":60000}
//	<- {"ok":true,"image":{"width":400,"height":500,"ppi":500,"png":"<base64 PNG, 8-bit gray>"}}
//	<- {"ok":false,"error":{"code":"no-finger","message":"..."}}
//
// Error codes: "no-finger", "retry" (e.g. finger moved), "unplugged", "busy"; anything else
// is a device error. A helper that misses the deadline, dies or answers garbage is stopped
// and started again on the next capture.
package extproc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"koffer/devices/fingerprint"
)

// maxLine bounds one response: a 1000x1000 8-bit PNG, base64, with room to spare.
const maxLine = 8 << 20

// Options tune a Reader.
type Options struct {
	// Path and Args of the helper program.
	Path string
	Args []string
	// CaptureTimeout bounds a capture when the context has no earlier deadline (default 90 s).
	CaptureTimeout time.Duration
	Logger         *slog.Logger
}

// Reader is a helper-backed reader.
type Reader struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan lineOrErr
	closed bool
}

var _ fingerprint.Reader = (*Reader)(nil)

type lineOrErr struct {
	line []byte
	err  error
}

// New returns a reader that starts the helper on first use.
func New(opts Options) *Reader {
	if opts.CaptureTimeout <= 0 {
		opts.CaptureTimeout = 90 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Reader{opts: opts, log: log.With("subsystem", "fingerprint", "driver", "extproc")}
}

type request struct {
	Op        string `json:"op"`
	TimeoutMs int64  `json:"timeoutMs,omitempty"`
}

// Response is one helper answer.
type Response struct {
	OK    bool `json:"ok"`
	Image *struct {
		Width  int    `json:"width"`
		Height int    `json:"height"`
		PPI    int    `json:"ppi"`
		PNG    string `json:"png"`
	} `json:"image,omitempty"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// Capture asks the helper for one image.
func (r *Reader) Capture(ctx context.Context) (*fingerprint.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fingerprint.Failf(fingerprint.CodeDevice, "extproc: reader closed")
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.CaptureTimeout)
	defer cancel()
	if err := r.start(); err != nil {
		return nil, err
	}
	req := request{Op: "capture"}
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMs = time.Until(dl).Milliseconds()
	}
	line, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("extproc: %w", err)
	}
	if _, err := r.stdin.Write(append(line, '\n')); err != nil {
		r.stop()
		return nil, fingerprint.Fail(fingerprint.CodeDevice, fmt.Errorf("extproc: send: %w", err))
	}
	select {
	case l := <-r.lines:
		if l.err != nil {
			r.stop()
			return nil, fingerprint.Fail(fingerprint.CodeDevice, fmt.Errorf("extproc: helper: %w", l.err))
		}
		img, err := ParseResponse(l.line)
		if err != nil && !isHelperVerdict(err) {
			r.stop() // a helper that answers garbage is not trusted with the next request
		}
		return img, err
	case <-ctx.Done():
		r.stop()
		return nil, fingerprint.TransferFail("extproc: capture", ctx.Err())
	}
}

// isHelperVerdict reports whether err is an error the helper reported itself (the protocol
// still works), as opposed to a broken answer.
func isHelperVerdict(err error) bool {
	var v *verdict
	return errors.As(err, &v)
}

type verdict struct{ code, msg string }

func (v *verdict) Error() string { return "helper reports " + v.code + ": " + v.msg }

var helperCodes = map[string]string{
	"no-finger": fingerprint.CodeNoFinger,
	"retry":     fingerprint.CodeRetry,
	"unplugged": fingerprint.CodeUnplugged,
	"busy":      fingerprint.CodeDevice,
}

// ParseResponse decodes one response line into an image, or the *devices.Error it reports.
func ParseResponse(line []byte) (*fingerprint.Image, error) {
	var resp Response
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		return nil, fingerprint.Fail(fingerprint.CodeBadFrame, fmt.Errorf("extproc: response: %w", err))
	}
	if !resp.OK {
		if resp.Error == nil {
			return nil, fingerprint.Failf(fingerprint.CodeBadFrame, "extproc: failure without error")
		}
		code, ok := helperCodes[resp.Error.Code]
		if !ok {
			code = fingerprint.CodeDevice
		}
		return nil, fingerprint.Fail(code, &verdict{code: resp.Error.Code, msg: resp.Error.Message})
	}
	im := resp.Image
	if im == nil {
		return nil, fingerprint.Failf(fingerprint.CodeBadFrame, "extproc: success without image")
	}
	if im.Width <= 0 || im.Height <= 0 || im.Width > 2000 || im.Height > 2000 || im.PPI < 250 || im.PPI > 2000 {
		return nil, fingerprint.Failf(fingerprint.CodeBadImage, "extproc: image %dx%d at %d ppi", im.Width, im.Height, im.PPI)
	}
	raw, err := base64.StdEncoding.DecodeString(im.PNG)
	if err != nil {
		return nil, fingerprint.Fail(fingerprint.CodeBadFrame, fmt.Errorf("extproc: png: %w", err))
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil || cfg.Width != im.Width || cfg.Height != im.Height {
		return nil, fingerprint.Failf(fingerprint.CodeBadImage, "extproc: png header does not match %dx%d", im.Width, im.Height)
	}
	decoded, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, fingerprint.Fail(fingerprint.CodeBadImage, fmt.Errorf("extproc: png: %w", err))
	}
	g, ok := decoded.(*image.Gray)
	if !ok {
		return nil, fingerprint.Failf(fingerprint.CodeBadImage, "extproc: png is not 8-bit gray")
	}
	return &fingerprint.Image{Gray: g, PPI: im.PPI}, nil
}

func (r *Reader) start() error {
	if r.cmd != nil {
		return nil
	}
	cmd := exec.Command(r.opts.Path, r.opts.Args...)
	cmd.WaitDelay = time.Second // a helper whose children hold stdout open cannot block stop
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("extproc: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("extproc: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fingerprint.Fail(fingerprint.CodeNotFound, fmt.Errorf("extproc: start helper: %w", err))
	}
	lines := make(chan lineOrErr, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			lines <- lineOrErr{line: append([]byte(nil), sc.Bytes()...)}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		lines <- lineOrErr{err: err}
		close(lines)
	}()
	r.cmd, r.stdin, r.lines = cmd, stdin, lines
	r.log.Info("helper started", "pid", cmd.Process.Pid)
	return nil
}

// stop kills the helper and reaps it; the next capture starts a fresh one.
func (r *Reader) stop() {
	if r.cmd == nil {
		return
	}
	r.stdin.Close()
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	for range r.lines { // drain until the scanner goroutine ends
	}
	r.cmd, r.stdin, r.lines = nil, nil, nil
}

// Close stops the helper.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.stop()
	return nil
}
