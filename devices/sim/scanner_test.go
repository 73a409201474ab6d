package sim_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/escl"
	"koffer/devices/sim"
)

func TestSimulatedScanner(t *testing.T) {
	s, err := sim.StartScanner(sim.ScannerOptions{FeederPages: 2, PageTime: time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	info := escl.Describe(t.Context(), s.URL(), time.Second, escl.Options{})
	require.Nil(t, info.Err)
	assert.Equal(t, "koffer Übungsscanner", info.MakeAndModel)
	assert.Equal(t, []string{"flatbed", "adf"}, info.Sources)

	c, err := escl.New(s.URL(), escl.Options{})
	require.NoError(t, err)
	caps, err := c.Capabilities(t.Context())
	require.NoError(t, err)
	set, err := caps.Settings(escl.Profile{Source: escl.Feeder}, c.Quirks())
	require.NoError(t, err)
	n, err := c.Scan(t.Context(), caps, set, func(p *escl.Page) error {
		_, err := io.Copy(io.Discard, p.Body)
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}
