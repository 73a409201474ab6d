package doctor

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
)

// townhall is an HTTPS server whose certificate is issued by ca and which requires a client
// certificate from ca, as the real town hall does. date, when set, is its Date header.
type townhall struct {
	srv      *httptest.Server
	url      string
	received atomic.Int64
}

func serverCert(t testing.TB, ca *enroll.CA) tls.Certificate {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func startTownhall(t testing.TB, ca *enroll.CA, date time.Time) *townhall {
	t.Helper()
	th := &townhall{}
	th.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !date.IsZero() {
			w.Header().Set("Date", date.UTC().Format(http.TimeFormat))
		}
		n, _ := io.Copy(io.Discard, r.Body)
		th.received.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	th.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert(t, ca)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
	}
	th.srv.StartTLS()
	t.Cleanup(th.srv.Close)
	th.url = "https://localhost:" + strconv.Itoa(th.srv.Listener.Addr().(*net.TCPAddr).Port)
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

func unusedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().(*net.TCPAddr)
	require.NoError(t, l.Close())
	return "https://localhost:" + strconv.Itoa(addr.Port)
}

func TestUplink(t *testing.T) {
	ca, err := enroll.NewCA("town hall CA", time.Now())
	require.NoError(t, err)
	other, err := enroll.NewCA("someone else", time.Now())
	require.NoError(t, err)
	good := startTownhall(t, ca, time.Time{})
	wrong := startTownhall(t, other, time.Time{})
	down := unusedPort(t)

	tests := []struct {
		name     string
		url      string
		want     Status
		code     string
		contains string
	}{
		{name: "reachable", url: good.url, want: OK, contains: "KiB/s"},
		{name: "unreachable port", url: down, want: Fail, code: "uplink.tcp"},
		{name: "wrong CA", url: wrong.url, want: Fail, code: "uplink.tls-ca"},
		{name: "unknown host", url: "https://doesnotexist.invalid", want: Fail, code: "uplink.dns"},
		{name: "no URL", url: "", want: Warn, code: "uplink.not-configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &Uplink{URL: tt.url, TLS: kitTLS(t, ca, tt.url), ProbeBytes: 32 << 10}
			rep := Run(t.Context(), []Check{u}, Options{Timeout: 10 * time.Second})
			r := rep.Results[0]
			assert.Equal(t, tt.want, r.Status, r.Value)
			assert.Equal(t, tt.code, r.Code, r.Value)
			assert.Contains(t, r.Value, tt.contains)
			if tt.want == Fail {
				assert.NotEmpty(t, r.HintDE)
				assert.NotEmpty(t, r.HintEN)
			}
		})
	}
	assert.GreaterOrEqual(t, good.received.Load(), int64(32<<10), "the probe's bytes reached the town hall")
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
			c := &Clock{URL: th.url, TLS: kitTLS(t, ca, th.url), Now: func() time.Time { return time.Now().Add(off) }}
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
		assert.Equal(t, Fail, r.Status)
		assert.Equal(t, "clock.unreachable", r.Code)
	})
}
