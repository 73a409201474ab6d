package uplink

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want time.Duration
	}{
		{name: "first failure waits the base", n: 1, want: 5 * time.Second},
		{name: "doubles", n: 3, want: 20 * time.Second},
		{name: "capped", n: 12, want: 10 * time.Minute},
		{name: "no overflow after many attempts", n: 10_000, want: 10 * time.Minute},
		{name: "zero attempts count as one", n: 0, want: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, backoff(5*time.Second, 10*time.Minute, tt.n))
		})
	}
}

func TestJitterStaysWithinHalfAndWhole(t *testing.T) {
	d := 8 * time.Second
	seen := map[bool]int{}
	for range 1000 {
		j := jitter(d)
		assert.GreaterOrEqual(t, j, d/2)
		assert.LessOrEqual(t, j, d)
		seen[j < 3*d/4]++
	}
	assert.Positive(t, seen[true], "spread over the lower half of the range")
	assert.Positive(t, seen[false], "and the upper half")
}
