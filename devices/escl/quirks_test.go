package escl_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
)

// Every model of the shared fixtures has a quirks entry, found by its own MakeAndModel.
func TestQuirksForFixtureModels(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		delay time.Duration
		busy  int
	}{
		{name: "HP", file: hpCaps, delay: 0, busy: 8},
		{name: "Kyocera", file: kyoceraCaps, delay: 500 * time.Millisecond, busy: 8},
		{name: "Xerox", file: xeroxCaps, delay: 0, busy: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps, err := escl.ParseCapabilities(bytes.NewReader(escltest.Fixture(t, tt.file)))
			require.NoError(t, err)
			q := escl.QuirksFor(caps.MakeAndModel)
			assert.Equal(t, tt.delay, q.NextDocumentDelay)
			assert.Equal(t, tt.busy, q.BusyRetries)
			assert.GreaterOrEqual(t, q.NotFoundRetries, 3)
		})
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A scanner that stays busy is given up on after the bounded budget, with doubling waits
// capped at 8x the first: measured on synctest's fake clock.
func TestBusyBudgetIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		busy := rtFunc(func(r *http.Request) (*http.Response, error) {
			calls.Add(1)
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})
		c, err := escl.New("http://scanner.invalid/eSCL", escl.Options{Transport: busy, Backoff: 100 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler), Quirks: &escl.Quirks{BusyRetries: 6}})
		require.NoError(t, err)
		start := time.Now()
		_, err = c.Status(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), escl.CodeBusy)
		assert.Equal(t, int32(7), calls.Load(), "first try and 6 retries")
		// 100+200+400+800+800+800 ms
		assert.Equal(t, 3100*time.Millisecond, time.Since(start))
	})
}

// A cancelled scan stops waiting at once and cancels the job on the device.
func TestCancelledScanDeletesJob(t *testing.T) {
	srv := escltest.New(t, escltest.Options{Capabilities: escltest.Fixture(t, hpCaps), Hang: true})
	c, err := escl.New(srv.BaseURL(), escl.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = c.ScanToPDF(ctx, escl.DocumentSettings(escl.Flatbed), t.TempDir()+"/x.pdf")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), escl.CodeTimeout)
	assert.Equal(t, 1, srv.Count("delete"))
}
