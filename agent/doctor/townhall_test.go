package doctor

import (
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/townhall"
)

// TestUplinkRealTownhall runs the uplink and clock checks against the real town hall server:
// an enrolled kit passes; a kit with a certificate from the same CA that the town hall never
// enrolled is told so.
func TestUplinkRealTownhall(t *testing.T) {
	th, err := townhall.Open(t.Context(), t.TempDir(), townhall.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { th.Close() })
	h, err := th.Handler()
	require.NoError(t, err)
	cfg, err := th.ServerTLS()
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	url := "https://localhost:" + strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)

	enrolled, err := th.AddKit(t.Context(), "kit-enrolled", url)
	require.NoError(t, err)
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	stranger, err := th.CA().Issue("kit-stranger", url, id.Recipient().String(), time.Now())
	require.NoError(t, err)

	okTLS, err := enrolled.ClientTLS()
	require.NoError(t, err)
	r := (&Uplink{URL: url, TLS: okTLS}).Run(t.Context())
	assert.Equal(t, OK, r.Status, "%s %s", r.Code, r.Value)
	assert.Contains(t, r.Value, "rtt")
	c := (&Clock{URL: url, TLS: okTLS}).Run(t.Context())
	assert.Equal(t, OK, c.Status, "%s %s", c.Code, c.Value)

	strangerTLS, err := stranger.ClientTLS()
	require.NoError(t, err)
	r = (&Uplink{URL: url, TLS: strangerTLS}).Run(t.Context())
	assert.Equal(t, Fail, r.Status, r.Value)
	assert.Equal(t, "uplink.unknown-kit", r.Code)
}
