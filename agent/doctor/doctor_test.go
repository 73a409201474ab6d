package doctor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func resultOf(t *testing.T, rep Report, name string) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Check == name {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", name, rep.Results)
	return Result{}
}

func TestRunHangingAndPanickingChecks(t *testing.T) {
	checks := []Check{
		Func{"fine", func(context.Context) Result { return ok("1") }},
		Func{"slow-warn", func(context.Context) Result { return warn("2", "w", "de", "en") }},
		Func{"hangs", func(ctx context.Context) Result { <-make(chan struct{}); return ok("never") }},
		Func{"panics", func(context.Context) Result { panic("boom") }},
	}
	start := time.Now()
	rep := Run(t.Context(), checks, Options{Timeout: 200 * time.Millisecond})
	assert.Less(t, time.Since(start), 5*time.Second, "a hanging check is bounded by its deadline")
	require.Len(t, rep.Results, 4)
	assert.Equal(t, Fail, rep.Status)
	assert.Equal(t, 2, rep.ExitCode())
	h := resultOf(t, rep, "hangs")
	assert.Equal(t, Fail, h.Status)
	assert.Equal(t, "check.timeout", h.Code)
	assert.NotEmpty(t, h.HintDE)
	assert.NotEmpty(t, h.HintEN)
	p := resultOf(t, rep, "panics")
	assert.Equal(t, "check.panic", p.Code)
	assert.Contains(t, p.Value, "boom")
	assert.Equal(t, OK, resultOf(t, rep, "fine").Status)
	assert.Equal(t, "slow-warn", rep.Results[3].Check, "sorted by name")
}

func TestOverallStatus(t *testing.T) {
	tests := []struct {
		name string
		in   []Status
		want Status
		code int
	}{
		{name: "all ok", in: []Status{OK, OK}, want: OK, code: 0},
		{name: "one warn", in: []Status{OK, Warn}, want: Warn, code: 1},
		{name: "warn and fail", in: []Status{Warn, Fail, OK}, want: Fail, code: 2},
		{name: "empty status is fail", in: []Status{OK, ""}, want: Fail, code: 2},
		{name: "none", in: nil, want: OK, code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cs []Check
			for _, s := range tt.in {
				cs = append(cs, Func{string(s) + "x", func(context.Context) Result { return Result{Status: s} }})
			}
			rep := Run(t.Context(), cs, Options{})
			assert.Equal(t, tt.want, rep.Status)
			assert.Equal(t, tt.code, rep.ExitCode())
		})
	}
}

func TestPerCheckTimeoutOverride(t *testing.T) {
	c := Func{"uplink", func(ctx context.Context) Result {
		select {
		case <-time.After(300 * time.Millisecond):
			return ok("made it")
		case <-ctx.Done():
			return fail("ctx", "x", "", "")
		}
	}}
	rep := Run(t.Context(), []Check{c}, Options{Timeout: 50 * time.Millisecond, Timeouts: map[string]time.Duration{"uplink": 5 * time.Second}})
	assert.Equal(t, OK, rep.Status)
}
