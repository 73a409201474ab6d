// Package doctortest runs a stand-in town hall for doctor tests: an HTTPS server whose
// certificate is issued by an enrollment CA and which requires the kit's client certificate.
package doctortest

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

	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
)

// Townhall is a running stand-in town hall.
type Townhall struct {
	URL      string // https://localhost:PORT
	Received atomic.Int64
	srv      *httptest.Server
}

// Options tune Start. Date, when set, is sent as the HTTP Date header (a town hall whose clock
// differs from the kit's).
type Options struct {
	Date time.Time
}

// Start runs a town hall with a server certificate from ca (valid one day around now) that
// requires a client certificate from ca. It answers every request with 204 after reading the
// body, and stops with the test.
func Start(t testing.TB, ca *enroll.CA, opts Options) *Townhall {
	t.Helper()
	th := &Townhall{}
	th.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !opts.Date.IsZero() {
			w.Header().Set("Date", opts.Date.UTC().Format(http.TimeFormat))
		}
		n, _ := io.Copy(io.Discard, r.Body)
		th.Received.Add(n)
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
	th.URL = "https://localhost:" + strconv.Itoa(th.srv.Listener.Addr().(*net.TCPAddr).Port)
	return th
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

// Silent is an https URL on a local port that accepts TCP connections and never answers (a
// hung town hall, or a link that drops everything after the handshake of TCP).
func Silent(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read or written
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "https://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// UnusedURL is an https URL on a local port where nothing listens.
func UnusedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return "https://localhost:" + strconv.Itoa(port)
}
