package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"koffer/sync/townhall"
)

// serveTownhall runs a real town hall in-process on data directory dir and a loopback port
// until the test ends, and returns it with the path of an enrollment bundle for kitID.
func serveTownhall(t *testing.T, dir, kitID string) (*townhall.Townhall, string) {
	t.Helper()
	th, err := townhall.Open(t.Context(), dir, townhall.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg, err := th.ServerTLS()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- th.Serve(ctx, ln, cfg) }()
	t.Cleanup(func() { cancel(); <-served; _ = th.Close() })
	return th, enrollBundle(t, th, kitID, "https://"+ln.Addr().String())
}

// enrollBundle enrolls kitID at th for url and writes its bundle to a file.
func enrollBundle(t *testing.T, th *townhall.Townhall, kitID, url string) string {
	t.Helper()
	b, err := th.AddKit(t.Context(), kitID, url)
	require.NoError(t, err)
	raw, err := b.Marshal()
	require.NoError(t, err)
	bundle := filepath.Join(t.TempDir(), "kit.json")
	require.NoError(t, os.WriteFile(bundle, raw, 0o600))
	return bundle
}
