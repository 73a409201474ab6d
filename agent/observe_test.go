package agent

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMetricsOnLoopback: GET /metrics on the loopback listener shows the queue as the store
// has it, and nothing of the citizen.
func TestMetricsOnLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	a := newTestAgent(t, Options{Config: Config{Listen: addr}})
	_, err = a.Submit(t.Context(), request(t, "wohnsitzanmeldung"))
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
	assert.Contains(t, body, "\nkoffer_queue_depth 1\n")
	assert.Contains(t, body, "go_goroutines")
	for _, personal := range []string{"Rabensteiner", "1947-09-09"} {
		assert.False(t, strings.Contains(body, personal), "metrics hold no personal data")
	}

	// The UI's host check applies to /metrics too (DNS rebinding).
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	req.Host = "boese.example"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
}
