package doctor

import (
	"crypto/tls"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/doctor/doctortest"
	"koffer/sync/enroll"
)

func startTownhall(t testing.TB, ca *enroll.CA, date time.Time) *doctortest.Townhall {
	t.Helper()
	th := doctortest.Start(t, ca, doctortest.Options{Date: date})
	return th
}

func kitTLS(t *testing.T, ca *enroll.CA, url string) *tls.Config {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	b, err := ca.Issue("kit-1", url, id.Recipient().String(), time.Now())
	require.NoError(t, err)
	cfg, err := b.ClientTLS()
	require.NoError(t, err)
	return cfg
}

func unusedPort(t *testing.T) string { return doctortest.UnusedURL(t) }

func TestUplink(t *testing.T) {
	ca, err := enroll.NewCA("town hall CA", time.Now())
	require.NoError(t, err)
	other, err := enroll.NewCA("someone else", time.Now())
	require.NoError(t, err)
	good := startTownhall(t, ca, time.Time{})
	wrong := startTownhall(t, other, time.Time{})
	down := unusedPort(t)
	silent := doctortest.Silent(t)

	tests := []struct {
		name     string
		url      string
		want     Status
		code     string
		contains string
	}{
		{name: "reachable", url: good.URL, want: OK, contains: "KiB/s"},
		{name: "unreachable port is offline, a warning", url: down, want: Warn, code: "uplink.tcp"},
		{name: "wrong CA", url: wrong.URL, want: Fail, code: "uplink.tls-ca"},
		{name: "unknown host is offline, a warning", url: "https://doesnotexist.invalid", want: Warn, code: "uplink.dns"},
		{name: "silent town hall is slow", url: silent, want: Warn, code: "uplink.slow", contains: "no TLS answer within"},
		{name: "no URL", url: "", want: Warn, code: "uplink.not-configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &Uplink{URL: tt.url, TLS: kitTLS(t, ca, tt.url), ProbeBytes: 32 << 10}
			rep := Run(t.Context(), []Check{u}, Options{Timeout: 1500 * time.Millisecond})
			r := rep.Results[0]
			assert.Equal(t, tt.want, r.Status, r.Value)
			assert.Equal(t, tt.code, r.Code, r.Value)
			assert.Contains(t, r.Value, tt.contains)
			assert.Less(t, r.Duration, 1500*time.Millisecond, "reported before the runner's deadline")
			if tt.want != OK {
				assert.NotEmpty(t, r.HintDE)
				assert.NotEmpty(t, r.HintEN)
			}
		})
	}
	assert.GreaterOrEqual(t, good.Received.Load(), int64(32<<10), "the probe's bytes reached the town hall")
}

func TestClock(t *testing.T) {
	ca, err := enroll.NewCA("town hall CA", time.Now())
	require.NoError(t, err)
	now := time.Now()
	tests := []struct {
		name    string
		thDate  time.Time // the town hall's Date header
		kitTime time.Time // the kit's clock
		want    Status
		code    string
	}{
		{name: "in sync", thDate: now, kitTime: now, want: OK},
		{name: "five minutes off", thDate: now.Add(-5 * time.Minute), kitTime: now, want: Warn, code: "clock.skew"},
		{name: "twenty minutes off", thDate: now.Add(20 * time.Minute), kitTime: now, want: Fail, code: "clock.skew"},
		{name: "kit years ahead", thDate: now, kitTime: now.AddDate(3, 0, 0), want: Fail, code: "clock.skew"},
		{name: "kit years behind", thDate: now, kitTime: now.AddDate(-4, 0, 0), want: Fail, code: "clock.skew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := startTownhall(t, ca, tt.thDate)
			off := tt.kitTime.Sub(now)
			c := &Clock{URL: th.URL, TLS: kitTLS(t, ca, th.URL), Now: func() time.Time { return time.Now().Add(off) }}
			r := c.Run(t.Context())
			assert.Equal(t, tt.want, r.Status, r.Value)
			assert.Equal(t, tt.code, r.Code, r.Value)
			assert.NotEmpty(t, r.Value)
			if tt.want != OK {
				assert.NotEmpty(t, r.HintDE)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		url := unusedPort(t)
		r := (&Clock{URL: url, TLS: kitTLS(t, ca, url)}).Run(t.Context())
		assert.Equal(t, Warn, r.Status, "offline is the normal state of a kit")
		assert.Equal(t, "clock.unreachable", r.Code)
	})
}
