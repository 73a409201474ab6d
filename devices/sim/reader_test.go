package sim

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/fingerprint"
)

func TestReaderPrintsScoreByNoise(t *testing.T) {
	clean, err := NewReader(ReaderOptions{Seed: 1}).Capture(t.Context())
	require.NoError(t, err)
	noisy, err := NewReader(ReaderOptions{Seed: 1, Noise: 0.9}).Capture(t.Context())
	require.NoError(t, err)
	cs, err := fingerprint.Estimate{}.Score(t.Context(), clean)
	require.NoError(t, err)
	ns, err := fingerprint.Estimate{}.Score(t.Context(), noisy)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, cs.Value, fingerprint.EstimateRetryBelow, "clean simulated print needs no retry")
	assert.Less(t, ns.Value, cs.Value)
	assert.Equal(t, 500, clean.PPI)
}

func TestReaderVariesAndFails(t *testing.T) {
	r := NewReader(ReaderOptions{Seed: 3, Errors: map[int]error{2: fingerprint.Failf(fingerprint.CodeRetry, "sim")}})
	a, err := r.Capture(t.Context())
	require.NoError(t, err)
	_, err = r.Capture(t.Context())
	assert.True(t, fingerprint.IsCode(err, fingerprint.CodeRetry))
	c, err := r.Capture(t.Context())
	require.NoError(t, err)
	assert.NotEqual(t, a.Gray.Pix, c.Gray.Pix, "each capture is another print")
}

func TestReaderHonoursDeadline(t *testing.T) {
	r := NewReader(ReaderOptions{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	img, err := r.Capture(ctx)
	assert.Nil(t, img)
	assert.True(t, fingerprint.IsCode(err, fingerprint.CodeTimeout), "%v", err)
}

func TestReaderRunsTheProcedure(t *testing.T) {
	p := &fingerprint.Procedure{Reader: NewReader(ReaderOptions{Seed: 9}), Operator: acceptAll{}}
	res, err := p.Run(t.Context(), 40)
	require.NoError(t, err)
	require.Len(t, res.Prints, 2)
	assert.Equal(t, fingerprint.RightIndex, res.Prints[0].Finger)
	assert.Equal(t, fingerprint.LeftIndex, res.Prints[1].Finger)
}

type acceptAll struct{}

func (acceptAll) Skip(context.Context, fingerprint.Finger) (fingerprint.Reason, error) {
	return "", nil
}
func (acceptAll) Accept(context.Context, fingerprint.Finger, fingerprint.Attempt) (bool, error) {
	return true, nil
}
