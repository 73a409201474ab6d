package agent

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/escl"
	"koffer/devices/sim"
)

func simScanner(t testing.TB, opts sim.ScannerOptions) ESCL {
	t.Helper()
	s, err := sim.StartScanner(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	c, err := escl.New(s.URL(), escl.Options{})
	require.NoError(t, err)
	return ESCL{Client: c}
}

func TestESCLScanDocument(t *testing.T) {
	pdf, err := simScanner(t, sim.ScannerOptions{FeederPages: 3, PageTime: time.Millisecond}).ScanDocument(t.Context())
	require.NoError(t, err)
	n, err := api.PageCount(bytes.NewReader(pdf), nil)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "the loaded feeder is scanned, every page")

	t.Run("a jam returns no document", func(t *testing.T) {
		pdf, err := simScanner(t, sim.ScannerOptions{FeederPages: 3, PageTime: time.Millisecond, Jam: true}).ScanDocument(t.Context())
		assert.Nil(t, pdf)
		var de *devices.Error
		require.ErrorAs(t, err, &de)
		assert.Contains(t, de.Hint, "Papierstau")
	})
}
