// Package client is the Go client of the agent's local API (package localapi), used by the CLI
// and the UI. It talks HTTP over the unix socket DIR/koffer.sock.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"path/filepath"
	"syscall"

	"koffer/agent/localapi"
)

// SocketName is the socket's file name in the data directory.
const SocketName = "koffer.sock"

// ErrNotRunning means nobody listens on the socket.
var ErrNotRunning = errors.New("the koffer agent is not running")

// Client talks to one agent.
type Client struct {
	socket string
	hc     *http.Client
}

// New returns a client for the agent whose data directory is dataDir.
func New(dataDir string) *Client {
	sock := filepath.Join(dataDir, SocketName)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableCompression: true,
	}
	return &Client{socket: sock, hc: &http.Client{Transport: tr}}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	return c.send(ctx, method, path, body, "application/json", out)
}

func (c *Client) send(ctx context.Context, method, path string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://koffer"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w (no answer on %s)", ErrNotRunning, c.socket)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e localapi.Error
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Message == "" {
			return fmt.Errorf("agent answered %s", resp.Status)
		}
		return &e
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// Status asks for the agent's status.
func (c *Client) Status(ctx context.Context) (localapi.Status, error) {
	var st localapi.Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Submit hands a complete case to the agent, which validates and seals it. Validation
// failures come back as *localapi.Error with Problems.
//
// The request is streamed as multipart/form-data (localapi.WriteSubmit): the files travel as
// they are, not base64 inside one JSON value that both sides would have to hold whole.
func (c *Client) Submit(ctx context.Context, req localapi.SubmitRequest) (localapi.SubmitResponse, error) {
	var res localapi.SubmitResponse
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() { pw.CloseWithError(localapi.WriteSubmit(mw, req)) }()
	err := c.send(ctx, http.MethodPost, "/v1/cases", pr, mw.FormDataContentType(), &res)
	pr.Close()
	return res, err
}

// Queue lists the cases.
func (c *Client) Queue(ctx context.Context) ([]localapi.Case, error) {
	var cs []localapi.Case
	err := c.do(ctx, http.MethodGet, "/v1/queue", nil, &cs)
	return cs, err
}

// Case returns one case.
func (c *Client) Case(ctx context.Context, id string) (localapi.Case, error) {
	var cs localapi.Case
	err := c.do(ctx, http.MethodGet, "/v1/queue/"+id, nil, &cs)
	return cs, err
}

// Sync asks the agent to send its queue to the town hall now.
func (c *Client) Sync(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/sync", struct{}{}, nil)
}
