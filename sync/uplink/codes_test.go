package uplink

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrorLabels: the label says what happened, from errors of real connections where one can
// be made here.
func TestErrorLabels(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler()) // an HTTP server, not a town hall
	defer plain.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	_, notTLS := client.Get("https://" + plain.Listener.Addr().String() + "/files/")
	require.Error(t, notTLS)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, refused := net.Dial("tcp", closed)
	require.Error(t, refused)

	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "HTTP server where a town hall should be", err: notTLS, want: "not_tls"},
		{name: "nothing listening", err: refused, want: "refused"},
		{name: "reset", err: &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, want: "reset"},
		{name: "no route", err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, want: "no_route"},
		{name: "unknown name", err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x.invalid"}}, want: "dns"},
		{name: "handshake refused", err: tls.AlertError(42), want: "tls_refused"},
		{name: "stalled", err: errStalled, want: "stalled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, codeOf(tt.err))
		})
	}
}
