package escl_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"koffer/devices/escl"
	"koffer/devices/escl/escltest"
)

// TestWrongURLPath: an HTTP server at the scanner address without an eSCL root (a wrong path in
// the configuration) is named as such, not as a scanner to restart.
func TestWrongURLPath(t *testing.T) {
	srv := escltest.NewFromFixture(t, "Xerox-B235", escltest.Behaviour{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c, err := escl.New(hs.URL+"/scan", fastOptions()) // the device serves /eSCL/
	require.NoError(t, err)
	_, err = c.Capabilities(t.Context())
	assertCode(t, err, escl.CodeNotESCL)
	require.ErrorContains(t, err, "http 404")
	require.NotContains(t, escl.HintFor(escl.CodeNotESCL), "neu starten")

	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	c, err = escl.New(plain.URL+"/eSCL", fastOptions())
	require.NoError(t, err)
	_, err = c.Capabilities(t.Context())
	assertCode(t, err, escl.CodeNotESCL)
}
