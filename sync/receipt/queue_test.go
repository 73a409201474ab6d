package receipt_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/receipt"
)

func TestParseQueueReport(t *testing.T) {
	tests := []struct {
		name, in string
		want     receipt.QueueReport
		err      string
	}{
		{name: "empty outbox", in: `{"depth":0,"oldest_age_s":0,"parked":0}`},
		{name: "waiting", in: `{"depth":3,"oldest_age_s":7200,"parked":1}`, want: receipt.QueueReport{Depth: 3, OldestAgeSeconds: 7200, Parked: 1}},
		{name: "not json", in: `depth=3`, err: "queue report"},
		{name: "unknown field", in: `{"depth":1,"oldest_age_s":1,"parked":0,"case_id":"x"}`, err: "unknown field"},
		{name: "trailing", in: `{"depth":1,"oldest_age_s":1,"parked":0}{}`, err: "trailing"},
		{name: "negative depth", in: `{"depth":-1,"oldest_age_s":0,"parked":0}`, err: "depth"},
		{name: "parked above depth", in: `{"depth":1,"oldest_age_s":5,"parked":2}`, err: "parked"},
		{name: "age without packet", in: `{"depth":0,"oldest_age_s":5,"parked":0}`, err: "age"},
		{name: "age in decades", in: `{"depth":1,"oldest_age_s":999999999999,"parked":0}`, err: "age"},
		{name: "too long", in: `{"depth":1` + strings.Repeat(" ", 300) + `}`, err: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := receipt.ParseQueueReport(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestQueueReportRoundTrip(t *testing.T) {
	q := receipt.QueueReport{Depth: 4, OldestAgeSeconds: 86400, Parked: 2}
	got, err := receipt.ParseQueueReport(q.String())
	require.NoError(t, err)
	assert.Equal(t, q, got)
}

// FuzzParseQueueReport: a kit's header never panics the town hall, and what it accepts is
// within bounds and survives a round trip.
func FuzzParseQueueReport(f *testing.F) {
	f.Add(`{"depth":3,"oldest_age_s":7200,"parked":1}`)
	f.Add(`{"depth":0,"oldest_age_s":0,"parked":0}`)
	f.Add(`{"depth":1e3}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		q, err := receipt.ParseQueueReport(s)
		if err != nil {
			return
		}
		if q.Depth < 0 || q.Parked < 0 || q.Parked > q.Depth || q.OldestAgeSeconds < 0 {
			t.Fatalf("accepted out of bounds: %+v", q)
		}
		again, err := receipt.ParseQueueReport(q.String())
		if err != nil || again != q {
			t.Fatalf("round trip of %+v: %+v, %v", q, again, err)
		}
	})
}
